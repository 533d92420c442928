"""One real `python -m summarytool COMMAND` per command whose tests otherwise run in-process (`summary`,
`diff` and `selfcheck` have theirs beside their other tests): the entry point, exit codes and stdout
survive the process boundary."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

MODELS = Path(__file__).resolve().parents[1] / "models.py"


def run_process(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "summarytool", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ),
        check=False,
    )


def test_env_json_names_this_torch() -> None:
    import torch

    done = run_process("env", "--json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["schema"].startswith("summarytool.env/")
    assert torch.__version__.split("+")[0] in done.stdout


def test_fit_answers_and_says_when_nothing_fits() -> None:
    fits = run_process("fit", f"{MODELS}:DigitNet", "--input-size", "1,1,16,16", "--memory", "20MB")
    assert fits.returncode == 0, fits.stderr
    assert "Largest batch size that fits:" in fits.stdout
    nothing = run_process("fit", f"{MODELS}:DigitNet", "--input-size", "1,1,16,16", "--memory", "1kB")
    assert nothing.returncode == 3, nothing.stderr
    assert "Not even a batch size of 1 fits" in nothing.stdout
