"""Issue #22, items 6-9: the CLI as a newcomer meets it (help, messages, start-up time)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from support import cli
from torch import nn

from summarytool import summary
from summarytool.enums import CostColumns, OutputRowSettings
from summarytool.selfcheck import reference


class Splitter(nn.Module):
    def forward(self, x):
        return tuple(x[:, i : i + 1] for i in range(x.shape[1]))


class Multi(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(8, 8)
        self.split = Splitter()

    def forward(self, x):
        return self.split(self.lin(x))


MODELS = textwrap.dedent(
    """
    from torch import nn

    class Splitter(nn.Module):
        def forward(self, x):
            return tuple(x[:, i : i + 1] for i in range(x.shape[1]))

    class Multi(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(8, 8)
            self.split = Splitter()

        def forward(self, x):
            return self.split(self.lin(x))

    class Needs(nn.Module):
        def __init__(self, num_classes):
            super().__init__()
            self.fc = nn.Linear(4, num_classes)
    """
)


@pytest.fixture
def models(tmp_path: Path) -> Path:
    path = tmp_path / "models22.py"
    path.write_text(MODELS, encoding="utf-8")
    return path


# ----- item 6: summarytool's own rows and columns, in the help and on the command line ------------


def test_summary_help_lists_own_rows_and_columns(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "summary", "--help")
    assert code == 0
    flat = " ".join(out.split())
    for value in [r.value for r in OutputRowSettings] + [c.value for c in CostColumns]:
        assert value in flat, value


def test_rows_all_output_shapes_and_cost_columns_run(
    capsys: pytest.CaptureFixture[str], models: Path
) -> None:
    code, out, err = cli(
        capsys,
        "summary",
        f"{models}:Multi",
        "--input-size",
        "2,8",
        "--rows",
        "depth,all_output_shapes",
        "--columns",
        "output_size,num_params,flops",
    )
    assert code == 0, err
    assert "FLOPs" in out and out.count("[2, 1]") == 16  # Multi and Splitter, 8 each


def test_unknown_row_setting_lists_every_choice(capsys: pytest.CaptureFixture[str], models: Path) -> None:
    code, _, err = cli(capsys, "summary", f"{models}:Multi", "--input-size", "2,8", "--rows", "nope")
    assert code == 2 and "all_output_shapes" in err


def test_long_output_shape_lists_wrap_within_the_column() -> None:
    stats = summary(Multi(), input_size=(2, 8), verbose=0, row_settings=["depth", "all_output_shapes"])
    fmt = stats.formatting
    widest = fmt.layer_name_width + len(fmt.col_names) * (fmt.col_width + 1)
    table = str(stats)
    lines = table.splitlines()
    assert all(len(line) <= widest for line in lines), table
    params_at = fmt.layer_name_width + 1 + fmt.col_width + 1  # where the Param # column starts
    rows = [line for line in lines if "Splitter" in line or "Linear" in line or line.startswith("Multi")]
    for line in rows:  # the Param # cell of every named row starts where its header does
        assert line[params_at - 1] == " " and line[params_at] != " ", line
    split_at = next(i for i, line in enumerate(lines) if "Splitter" in line)
    shapes = lines[split_at][fmt.layer_name_width + 1 : params_at].strip()
    rest = lines[split_at + 1 :]
    continuation = []
    for line in rest:
        if line[: fmt.layer_name_width].strip() or line.startswith("="):
            break
        continuation.append(line)
        assert line[params_at:].strip() == "", line  # the other cells of a continuation line are blank
        shapes += " " + line[fmt.layer_name_width + 1 : params_at].strip()
    assert continuation, table
    assert shapes.split() == ", ".join(["[2, 1]"] * 8).split()


def test_default_table_does_not_wrap() -> None:
    """Without all_output_shapes the Output Shape cell is torchinfo's (the first output only)."""
    text = str(summary(Multi(), input_size=(2, 8), verbose=0))
    assert text.count("[2, 1]") == 2  # Multi's row and Splitter's: one shape each, no continuation lines
    assert "\n      " not in text


# ----- item 7: the self-check names the heaviest layer as the table does ---------------------------


def test_heaviest_layer_is_named_as_in_the_table() -> None:
    result = reference.summarise("simplecnn", "cpu")
    message = reference.findings(result)[1].message
    assert result.heaviest is not None
    row_name = f"Linear: {result.heaviest.depth_index}"
    assert row_name in result.table
    assert f"heaviest layer: {row_name} ('{result.heaviest.name}')" in message, message


# ----- item 8: messages that quote what the user typed, and the sub-command's own usage ------------


def test_non_literal_argument_quotes_the_target(capsys: pytest.CaptureFixture[str], models: Path) -> None:
    code, out, err = cli(capsys, "summary", f"{models}:Needs(num_classes=n)")
    assert code == 2 and out == ""
    assert "Needs(num_classes=n)" in err and "'n'" in err
    assert "'_(" not in err, err


@pytest.mark.parametrize(
    ("argv", "usage"),
    [
        (["env", "--lock", "X"], "usage: summarytool env "),
        (["selfcheck", "--nope"], "usage: summarytool selfcheck "),
        (["summary", "m.py:Net", "--nope"], "usage: summarytool summary "),
        (["diff", "a.json", "b.json", "--nope"], "usage: summarytool diff "),
    ],
)
def test_unknown_option_shows_the_subcommands_usage(
    capsys: pytest.CaptureFixture[str], argv: list[str], usage: str
) -> None:
    code, out, err = cli(capsys, *argv)
    assert code == 2 and out == ""
    assert err.startswith(usage), err
    assert f"unrecognized arguments: {argv[-1]}" in err or "unrecognized arguments: --lock X" in err


def test_unknown_option_without_a_command_shows_the_top_usage(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "--nope")
    assert code == 2 and err.startswith("usage: summarytool [-h]") and "--nope" in err


# ----- item 9: help and usage errors do not import torch -------------------------------------------

HELP_RUNS = """
import sys
{prelude}
import summarytool.cli as c
for argv in {argvs!r}:
    try:
        c.main(argv)
    except SystemExit:
        pass
    assert 'torch' not in sys.modules, (argv, sorted(m for m in sys.modules if m.startswith('summarytool')))
print('no torch')
"""

ARGVS = [
    ["--help"],
    ["-h"],
    ["summary", "--help"],
    ["diff", "-h"],
    ["env", "--help"],
    ["selfcheck", "-h"],
    ["env", "--lock", "X"],
    ["summary"],
    ["--nope"],
    [],
]


def _run(prelude: str) -> subprocess.CompletedProcess[str]:
    code = HELP_RUNS.format(prelude=prelude, argvs=ARGVS)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_cli_modules_import_no_torch_for_help_and_usage_errors() -> None:
    package_dir = str(Path(__import__("summarytool").__file__).parent)
    prelude = (
        "import types\n"
        "pkg = types.ModuleType('summarytool')\n"
        f"pkg.__path__ = [{package_dir!r}]\n"
        "sys.modules['summarytool'] = pkg\n"
    )
    proc = _run(prelude)
    assert proc.returncode == 0 and "no torch" in proc.stdout, proc.stderr[-3000:]


def test_help_imports_no_torch() -> None:
    proc = _run("")
    assert proc.returncode == 0 and "no torch" in proc.stdout, proc.stderr[-3000:]
