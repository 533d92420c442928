"""Issue 15 item 13: `summarytool env --against LOCK` with a hostile lock file.

The image runs this check at every start, so a lock file must never hang it or crash it: the parser
works in linear time (no backtracking regexes; checked by counting its steps on two sizes of the same
hostile line), reads at most 16 MiB per file, follows at most 32 nested `-r` includes, refuses absurd
versions, and every refusal is exit 2 with one line naming the file and the problem.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from summarytool.cli import main
from summarytool.envreport import command, drift, lockfile

ENVREPORT = os.path.dirname(os.path.abspath(lockfile.__file__))


def _write(tmp_path: Path, text: str, name: str = "requirements.lock") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def run_env(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["env", *args])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_usage_error(code: int, out: str, err: str, *needles: str) -> None:
    assert code == 2, err
    assert out == ""
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err[:2000]
    assert lines[0].startswith("summarytool env: ")
    assert len(lines[0]) < 1000
    for needle in needles:
        assert needle in lines[0], lines[0]


# ----- linear time, by counting steps ------------------------------------------------------------


def count_steps(path: Path) -> int:
    """Python lines executed in summarytool.envreport while parsing `path` (the parser's own steps).

    With no regex in the parser (checked below), the rest of its work is str methods (find, split,
    strip, partition), each linear in what it is given; so steps that grow at most linearly with the
    input mean linear time.
    """
    steps = 0

    def local(frame, event, arg):  # noqa: ANN001, ANN202
        nonlocal steps
        if event == "line":
            steps += 1
        return local

    def start(frame, event, arg):  # noqa: ANN001, ANN202
        return local if frame.f_code.co_filename.startswith(ENVREPORT) else None

    sys.settrace(start)
    try:
        try:
            lockfile.parse(path)
        except lockfile.LockFileError:
            pass
    finally:
        sys.settrace(None)
    return steps


def test_the_parser_uses_no_regular_expressions() -> None:
    # A backtracking regex is where quadratic time hides ("(^|\s+)#" on a run of spaces: 5.7 s for 30 KB).
    for module in (lockfile, drift, command):
        assert "re" not in vars(module), f"{module.__name__} imports re"
        assert not any(isinstance(v, re.Pattern) for v in vars(module).values()), module.__name__


HOSTILE_LINES = {
    "a run of spaces": lambda n: "a" + " " * n + "b",
    "spaces then a hash": lambda n: "six==1.0" + " " * n + "#",
    "hashes": lambda n: "six==1.0" + "#" * n,
    "spaced hashes": lambda n: "a" + " #" * (n // 2),
    "dashes": lambda n: "six==1.0 " + "-" * n,
    "spaced dashes": lambda n: "six==1.0" + " -" * (n // 2),
    "spaced double dashes": lambda n: "six==1.0" + " --" * (n // 3),
    "commas in a specifier": lambda n: "six>=1" + " ," * (n // 2),
    "operators in a specifier": lambda n: "six" + ">=1," * (n // 4),
    "equals": lambda n: "six" + "=" * n,
    "name characters": lambda n: "a" + "." * n,
    "brackets": lambda n: "six" + "[" * n,
    "semicolons after a url": lambda n: "six @ http://x" + ";" * n,
    "spaced semicolons": lambda n: "six==1.0" + " ;" * (n // 2),
    "a long version": lambda n: "six==" + "1" * n,
    "continuations": lambda n: "six==1.0 \\\n" * (n // 10) + "\n",
    "many lines": lambda n: "".join(f"p{i}==1.0\n" for i in range(n // 10)),
    "many comments": lambda n: "# c\n" * (n // 4),
}


@pytest.mark.parametrize("kind", sorted(HOSTILE_LINES))
def test_parse_steps_grow_linearly(tmp_path: Path, kind: str) -> None:
    make = HOSTILE_LINES[kind]
    small = count_steps(_write(tmp_path, make(10_000) + "\n", "small.txt"))
    large = count_steps(_write(tmp_path, make(1_000_000) + "\n", "large.txt"))
    # 100 times the input: linear work is at most ~100 times the steps (plus a constant); quadratic is 10,000.
    assert large <= 150 * small + 1000, (kind, small, large)


def test_a_30kb_run_of_spaces_is_one_quick_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lock = _write(tmp_path, "torch" + " " * 30_000 + "x\n")
    assert_one_line_usage_error(*run_env(capsys, "--against", str(lock)), "requirements.lock:1")


# ----- bounded reads and includes ----------------------------------------------------------------


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_an_include_of_dev_zero_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lock = _write(tmp_path, "six==1.0\n-r /dev/zero\n")
    with pytest.raises(lockfile.LockFileError, match=r"/dev/zero.*16 MiB"):
        lockfile.parse(lock)
    assert_one_line_usage_error(*run_env(capsys, "--against", str(lock)), "/dev/zero", "16 MiB")
    assert_one_line_usage_error(*run_env(capsys, "--against", "/dev/zero"), "/dev/zero", "16 MiB")


def test_a_file_over_16_mib_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.txt"
    with open(big, "w", encoding="utf-8") as f:
        f.write(("# " + "x" * 1022 + "\n") * (16 * 1024 + 1))
    with pytest.raises(lockfile.LockFileError, match="big.txt.*16 MiB"):
        lockfile.parse(big)


def _chain(tmp_path: Path, n: int) -> Path:
    for i in range(n):
        _write(tmp_path, f"-r inc{i + 1}.txt\npkg{i}==1.0\n", f"inc{i}.txt")
    _write(tmp_path, "last==1.0\n", f"inc{n}.txt")
    return tmp_path / "inc0.txt"


def test_1200_nested_includes_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    top = _chain(tmp_path, 1200)
    with pytest.raises(lockfile.LockFileError, match="32"):
        lockfile.parse(top)
    assert_one_line_usage_error(*run_env(capsys, "--against", str(top)), "inc", "32")


def test_32_nested_includes_still_work(tmp_path: Path) -> None:
    lock = lockfile.parse(_chain(tmp_path, 32))
    assert "last" in lock.requirements and "pkg31" in lock.requirements


def test_an_include_fan_out_is_bounded(tmp_path: Path) -> None:
    # Each file includes the next one 50 times (no cycle): 50**6 parses unless the work is bounded.
    for i in range(6):
        _write(tmp_path, f"-r f{i + 1}.txt\n" * 50, f"f{i}.txt")
    _write(tmp_path, "six==1.0\n", "f6.txt")
    with pytest.raises(lockfile.LockFileError, match="include"):
        lockfile.parse(tmp_path / "f0.txt")


# ----- versions and markers that would crash the comparison --------------------------------------


def test_a_5000_digit_version_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lock = _write(tmp_path, "pip==" + "1" * 5000 + "\n")
    assert_one_line_usage_error(*run_env(capsys, "--against", str(lock)), "requirements.lock:1", "version")


def test_a_long_but_allowed_version_is_compared_without_crashing() -> None:
    assert drift.same_version("1" * 200, "1.0") is False
    assert drift.same_version("1." + "0" * 150, "1") is True
    assert drift._satisfies(">=" + "9" * 5000, "1.0") is None


@pytest.mark.parametrize(
    "text",
    [
        "six==1.0 ; " + "(" * 5000 + 'python_version > "3"' + ")" * 5000 + "\n",
        "six==1.0 ; " + " and ".join(['python_version > "3"'] * 3000) + "\n",
        "six>=" + ",>=".join(["1"] * 20_000) + "\n",
    ],
    ids=["nested parentheses", "a long marker", "a long specifier"],
)
def test_hostile_markers_and_specifiers_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str
) -> None:
    lock = _write(tmp_path, text)
    assert_one_line_usage_error(*run_env(capsys, "--against", str(lock)), "requirements.lock:1")


def test_binary_and_nul_bytes_are_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lock = tmp_path / "bin.lock"
    lock.write_bytes(b"six==1.0\n\xff\xfe\x00\n")
    assert_one_line_usage_error(*run_env(capsys, "--against", str(lock)), "bin.lock")
    nul = tmp_path / "nul.lock"
    nul.write_bytes(b"six==1.0\n\x00\x00\x00\n")
    assert_one_line_usage_error(*run_env(capsys, "--against", str(nul)), "nul.lock")


def test_a_folder_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert_one_line_usage_error(*run_env(capsys, "--against", str(tmp_path)), str(tmp_path))


# ----- property: any text parses or is a LockFileError -------------------------------------------

LOCK_ALPHABET = st.sampled_from(list(" \t\n\\#-=<>~!;@[](),.*+_:/\"'rRe019aZ\x00\u00e9"))


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(LOCK_ALPHABET, max_size=200) | st.text(max_size=200))
def test_any_text_parses_or_is_a_lock_file_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "fuzz.lock"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        lock = lockfile.parse(path)
    except lockfile.LockFileError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 1000
        return
    # Whatever parsed can be compared with what is installed.
    drift.compare({"six": "1.0", "torch": "2.8.0+cpu"}, lock)
