"""The CLI under hostile or careless use (issue #15, items 10 and 11), run in-process through `main(argv)`.

Every usage mistake exits 2 with one message naming the option and what to pass; a model that fails exits
1 naming the module; nothing prints a traceback unless `--debug` is given. Importing a TARGET cannot end
the command (`sys.exit` at import) or take it over (`argparse` reading `sys.argv` at import).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import cli

from summarytool.cli import main
from summarytool.commands import summary_cmd
from summarytool.commands.summary_cmd import UsageError, parse_shape

# The models live beside this file, not in it: importing a file that uses @given inside @given fails.
MODELS = Path(__file__).resolve().with_name("cli_hostile_models.py")


def target(name: str) -> str:
    return f"{MODELS}:{name}"


def assert_usage_error(code: int, out: str, err: str, *needles: str, command: str = "summary") -> None:
    """Exit 2, nothing on stdout, one error line naming the problem and one `fix:` line, no traceback."""
    assert code == 2, (code, out, err)
    assert out == ""
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 2, err
    assert lines[0].startswith(f"summarytool {command}: error: "), err
    assert lines[1].startswith("fix: ") and len(lines[1]) > len("fix: ") + 10, err
    for needle in needles:
        assert needle in err, (needle, err)


# ----- item 10: ordinary mistakes are usage errors (exit 2), never tracebacks ----------------------


@pytest.mark.parametrize(
    "shape",
    ["1,²", "1,\u0664", "\uff11,4", "1x²", "² 4"],  # superscript two, Arabic-Indic four, fullwidth one
)
def test_a_non_ascii_digit_in_input_size_is_a_usage_error(capsys, shape: str) -> None:
    code, out, err = cli(capsys, "summary", target("Small"), "--input-size", shape)
    assert_usage_error(code, out, err, "--input-size", "is not a positive whole number")


@pytest.mark.parametrize("shape", ["1," + "9" * 5000, "99999999999999999999,4", "4294967296,4294967296,4"])
def test_a_size_too_large_for_torch_is_a_usage_error(capsys, shape: str) -> None:
    code, out, err = cli(capsys, "summary", target("Small"), "--input-size", shape, "--device", "meta")
    assert_usage_error(code, out, err, "--input-size", "too large")


@pytest.mark.parametrize("batch_dim", ["7", "-4", "100000000000000000000"])
def test_batch_dim_out_of_range_is_a_usage_error(capsys, batch_dim: str) -> None:
    code, out, err = cli(
        capsys,
        "summary",
        target("Small"),
        "--input-size",
        "4",
        "--input-size",
        "2,4",
        "--batch-dim",
        batch_dim,
    )
    assert_usage_error(code, out, err, f"--batch-dim {batch_dim}", "--batch-dim 0")


def test_batch_dim_without_input_size_is_a_usage_error(capsys) -> None:
    code, out, err = cli(capsys, "summary", target("Small"), "--batch-dim", "0")
    assert_usage_error(code, out, err, "--batch-dim needs --input-size")


@pytest.mark.parametrize(
    "option, needle",
    [("--input-size=--", "'--' is not a positive whole number"), ("--dtypes=--", "'--' is not a torch dtype"),
     ("--device=--", "--device '--' is not a device"), ("--columns=--", "--columns '--'")],
)  # fmt: skip
def test_an_option_given_as_dashdash_is_read_as_that_text(capsys, option: str, needle: str) -> None:
    # Python 3.11's argparse hands `--opt=--` over as [] (`--input-size=--` as [[]]), not as "--".
    extra = [] if option.startswith("--input-size") else ["--input-size", "1,4"]
    code, out, err = cli(capsys, "summary", target("Small"), option, *extra)
    if code == 2 and "expected one argument" in err:  # a Python whose argparse refuses it itself
        return
    assert_usage_error(code, out, err, needle)


def test_a_valid_negative_batch_dim_still_works(capsys) -> None:
    code, out, err = cli(capsys, "summary", target("Small"), "--input-size", "4", "--batch-dim", "-2")
    assert code == 0, err
    assert "[1, 2]" in out


def test_inputs_larger_than_memory_are_refused_before_allocating(capsys, monkeypatch) -> None:
    def no_allocation(*args, **kwargs):
        raise AssertionError("the inputs were allocated")

    monkeypatch.setattr(torch, "rand", no_allocation)
    code, out, err = cli(capsys, "summary", target("Small"), "--input-size", "100000,100000,100000")
    assert_usage_error(code, out, err, "--input-size", "memory", "--device meta")


def test_an_allocation_failure_is_a_usage_error_when_free_memory_is_unknown(capsys, monkeypatch) -> None:
    # Where free memory cannot be read, the allocator's own failure is caught instead (4 PB never fits).
    monkeypatch.setattr(summary_cmd, "available_bytes", lambda device: None, raising=False)
    code, out, err = cli(capsys, "summary", target("Small"), "--input-size", "100000,100000,100000")
    assert_usage_error(code, out, err, "memory", "--device meta")


def test_a_dry_run_of_a_huge_input_needs_no_memory(capsys) -> None:
    code, out, err = cli(
        capsys, "summary", target("AnyShape"), "--input-size", "100000,100000,100000", "--device", "meta"
    )
    assert code == 0, err
    assert "[100000, 100000, 100000]" in out


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_output_to_a_full_disk_is_a_usage_error(capsys) -> None:
    code, out, err = cli(capsys, "summary", target("Small"), "--input-size", "1,4", "--output", "/dev/full")
    assert_usage_error(code, out, err, "--output '/dev/full'", "No space left on device")


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_stdout_to_a_full_disk_is_a_usage_error_without_a_traceback() -> None:
    # A real process: what matters is also what Python prints while flushing stdout at exit.
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [sys.executable, "-m", "summarytool", "summary", target("Small"), "--input-size", "1,4"],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr
    assert_usage_error(2, "", done.stderr, "standard output", "No space left on device")


@pytest.mark.parametrize("width", [str(10**9), "100001"])
def test_a_huge_col_width_is_a_usage_error(capsys, width: str) -> None:
    code, out, err = cli(capsys, "summary", target("Small"), "--col-width", width)
    assert_usage_error(code, out, err, f"--col-width {width}", "--col-width 25")


def test_a_failing_model_exits_1_naming_the_module(capsys) -> None:
    code, out, err = cli(capsys, "summary", target("Broken"), "--input-size", "1,4")
    assert code == 1
    assert out == ""
    assert "Linear (fc.1) raised RuntimeError" in err
    assert "Traceback" not in err


def test_a_forward_pass_that_calls_sys_exit_is_a_model_failure(capsys) -> None:
    code, out, err = cli(capsys, "summary", target("Quitter"), "--input-size", "1,4")
    assert code == 1, (code, err)
    assert out == ""
    assert "sys.exit(0)" in err and "Quitter" in err
    assert "Traceback" not in err


def test_an_unexpected_error_is_one_message_and_debug_shows_the_traceback(capsys, monkeypatch) -> None:
    def boom(stats, fmt):
        raise RuntimeError("renderer exploded")

    monkeypatch.setattr(summary_cmd, "render", boom)
    code, out, err = cli(capsys, "summary", target("Small"))
    assert code == 1
    assert "Traceback" not in err
    assert "RuntimeError: renderer exploded" in err and "--debug" in err
    with pytest.raises(RuntimeError, match="renderer exploded"):
        main(["summary", target("Small"), "--debug"])
    with pytest.raises(RuntimeError, match="renderer exploded"):
        main(["--debug", "summary", target("Small")])


def test_debug_shows_the_traceback_of_a_usage_error_too(capsys) -> None:
    code, out, err = cli(
        capsys, "summary", target("Small"), "--input-size", "1,4", "--batch-dim", "9", "--debug"
    )
    assert code == 2
    assert "Traceback" in err
    assert err.rstrip().splitlines()[-1].startswith("fix: ")


def test_debug_is_accepted_by_diff(capsys) -> None:
    code, out, err = cli(capsys, "diff", target("Small"), target("Small"), "--debug", "--exit-code")
    assert code == 0, err


# ----- item 11: importing a TARGET can neither end nor take over the command ----------------------

EXITS_AT_IMPORT = """
    import sys
    from torch import nn

    Net = nn.Linear
    sys.exit({code})
"""

ARGPARSE_AT_IMPORT = """
    import argparse
    import sys
    from torch import nn

    SEEN_ARGV = list(sys.argv)
    parser = argparse.ArgumentParser()
    parser.add_argument("--lr", type=float, default=0.1)
    {required}
    args = parser.parse_args()
    print("training with", args)

    def Net():
        return nn.Linear(4, 2)
"""


def write(folder: Path, name: str, source: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(source))
    return path


@pytest.mark.parametrize("code", ["0", "1", "'bye'"])
def test_a_target_that_calls_sys_exit_at_import_is_a_usage_error(capsys, tmp_path: Path, code: str) -> None:
    path = write(tmp_path, "train.py", EXITS_AT_IMPORT.format(code=code))
    got, out, err = cli(capsys, "summary", f"{path}:Net(4, 2)", "--input-size", "1,4")
    assert_usage_error(got, out, err, f"called sys.exit({code})", "if __name__ == '__main__':")


def test_diff_exit_code_does_not_pass_when_a_target_exits_at_import(capsys, tmp_path: Path) -> None:
    path = write(tmp_path, "train.py", EXITS_AT_IMPORT.format(code="0"))
    got, out, err = cli(
        capsys, "diff", target("Small"), f"{path}:Net(4, 2)", "--input-size", "1,4", "--exit-code"
    )
    assert_usage_error(got, out, err, "called sys.exit(0)", command="diff")


def test_argparse_at_import_cannot_take_over_the_command(capsys, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "train.py",
        ARGPARSE_AT_IMPORT.format(required='parser.add_argument("--data", required=True)'),
    )
    argv = list(sys.argv)
    got, out, err = cli(capsys, "summary", f"{path}:Net", "--input-size", "1,4")
    assert sys.argv == argv
    assert got == 2, (got, err)
    assert out == ""
    assert "Traceback" not in err
    # argparse's own complaint is the target's output; the command's verdict comes last.
    last = err.strip().splitlines()[-2:]
    assert last[0].startswith("summarytool summary: error: ") and "called sys.exit(2)" in last[0], err
    assert last[1].startswith("fix: ") and "if __name__ == '__main__':" in last[1]
    assert "--input-size" not in err.split("summarytool summary: error:")[0]  # it never saw our arguments


def test_a_target_reading_sys_argv_sees_only_its_own_path(capsys, tmp_path: Path) -> None:
    path = write(tmp_path, "train.py", ARGPARSE_AT_IMPORT.format(required=""))
    got, out, err = cli(capsys, "summary", f"{path}:Net", "--input-size", "1,4", "--format", "json")
    assert got == 0, err
    assert json.loads(out)["totals"]["total_params"] == 10  # what the target prints never reaches stdout
    assert "training with Namespace(lr=0.1)" in err
    module = next(m for n, m in sys.modules.items() if n.startswith("summarytool_target_train_"))
    assert module.SEEN_ARGV == [str(path)]


def test_a_module_target_that_exits_at_import_is_a_usage_error(capsys, tmp_path: Path, monkeypatch) -> None:
    write(tmp_path, "quitting_pkg_mod.py", EXITS_AT_IMPORT.format(code="0"))
    monkeypatch.syspath_prepend(str(tmp_path))
    got, out, err = cli(capsys, "summary", "quitting_pkg_mod:Net(4, 2)")
    assert_usage_error(got, out, err, "called sys.exit(0)")
    assert "quitting_pkg_mod" not in sys.modules


def test_a_factory_that_parses_sys_argv_is_a_usage_error(capsys, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "factory.py",
        """
        import argparse

        def build():
            parser = argparse.ArgumentParser()
            parser.add_argument("--width", type=int, required=True)
            return parser.parse_args()
        """,
    )
    got, out, err = cli(capsys, "summary", f"{path}:build")
    assert got == 2, (got, err)
    assert "Traceback" not in err
    assert "build() called sys.exit(2)" in err


# ----- the --input-size parser: any string is a shape or a clean usage error ----------------------

SHAPE_ALPHABET = "0123456789,x ()[]-+._\t\n²\u0664\uff11\u2003e"


def check_parse(text: str) -> None:
    try:
        shape = parse_shape(text)
    except UsageError as exc:
        assert exc.args[0].startswith("--input-size "), exc.args[0]
        assert exc.fix
        return
    assert isinstance(shape, tuple)
    assert all(type(n) is int and n > 0 for n in shape)
    numel = 1
    for n in shape:
        numel *= n
    assert numel < 2**63


@settings(max_examples=400, deadline=None)
@given(st.text())
def test_input_size_parser_any_text(text: str) -> None:
    check_parse(text)


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=SHAPE_ALPHABET, max_size=60))
def test_input_size_parser_shape_like_text(text: str) -> None:
    check_parse(text)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(min_value=0, max_value=2**80), max_size=8), st.sampled_from([",", "x", " ", ", "])
)
def test_input_size_parser_reads_back_what_it_is_given(sizes: list[int], sep: str) -> None:
    text = sep.join(map(str, sizes))
    check_parse(text)
    numel = 1
    for n in sizes:
        numel *= n
    if sizes and all(0 < n for n in sizes) and numel < 2**63:
        assert parse_shape(text) == tuple(sizes)
        assert parse_shape(f"({text})") == tuple(sizes)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(alphabet=SHAPE_ALPHABET, max_size=30))
def test_the_cli_answers_any_input_size_with_a_summary_or_a_usage_error(capsys, text: str) -> None:
    code, out, err = cli(capsys, "summary", target("AnyShape"), f"--input-size={text}", "--device", "meta")
    assert "Traceback" not in err
    if code == 0:
        assert out and err == ""
    else:
        assert_usage_error(code, out, err, "--input-size")
