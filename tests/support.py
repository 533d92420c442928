"""Values the tests share."""

import contextlib
import io
import re
import subprocess
import sys

import torch

# CPython's overhead of one storage object, which torchinfo's "Input size" includes (64 B on 3.11,
# 56 B on 3.13); measured here so golden tables hold on every Python version.
STORAGE_OVERHEAD = sys.getsizeof(torch.empty(0).untyped_storage())


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """`summarytool ARGS` in this process, as a finished command: exit code, stdout, stderr.

    In-process because a subprocess pays torch's import (~2 s) on every call; each command keeps one
    subprocess smoke test of its own for the process boundary."""
    from summarytool.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse's --help and usage errors
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return subprocess.CompletedProcess(["summarytool", *args], code, out.getvalue(), err.getvalue())


def cli(_capsys: object, *args: str) -> tuple[int, str, str]:
    """run_cli as the (exit code, stdout, stderr) triple the CLI test files unpack."""
    done = run_cli(*args)
    return done.returncode, done.stdout, done.stderr


def table_parts(text: str) -> tuple[str, list[str], list[str]]:
    """The header line, the row lines and the footer lines of a printed torchinfo-style table."""
    blocks = [b for b in text.split("=" * 10) if b.strip("=\n")]
    header = blocks[0].strip("=\n")
    rows = [line for line in blocks[1].strip("=\n").split("\n") if line]
    footer = [line for line in blocks[2].strip("=\n").split("\n") if line]
    return header, rows, footer


def column_sum(text: str, title: str) -> int:
    """Sum of a numeric column's cells; `--`, `(recursive)` and per-parameter rows count 0."""
    header, rows, _ = table_parts(text)
    start = header.index(title)
    total = 0
    for line in rows:
        cell = line[start:].split(" ")[0] if len(line) > start else ""
        if not cell or cell in ("--", "(recursive)") or cell.startswith(("└─", "├─")):
            continue
        assert re.fullmatch(r"\(?[\d,]+\)?", cell), line
        total += int(cell.strip("()").replace(",", ""))
    return total
