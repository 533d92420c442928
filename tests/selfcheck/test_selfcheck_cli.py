"""`summarytool selfcheck` for real on this CPU-only host: exit codes through `main` and one real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from summarytool.cli import main
from summarytool.selfcheck import nvml

pytestmark = pytest.mark.skipif(
    torch.cuda.is_available() or nvml.query().available, reason="these runs expect a host without NVIDIA GPUs"
)


def test_no_gpu_is_a_clean_fail(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["selfcheck", "--reference", "gap-cnn"]) == 1
    out = capsys.readouterr().out
    assert "[FAIL] no GPU is visible" in out and "--gpus all" in out and "NVIDIA Container Toolkit" in out
    assert "Traceback" not in out
    assert out.rstrip().endswith("exit code 1")


def test_allow_cpu_passes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["selfcheck", "--allow-cpu", "--json", "--reference", "gap-cnn"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["verdict"] == "OK" and doc["counts"]["FAIL"] == 0
    smoke = doc["sections"][3]
    assert smoke["data"]["devices"] == ["cpu"] and len(smoke["findings"]) == 3
    assert doc["sections"][4]["data"]["total_params"] == 146_826


def test_unknown_reference_is_bad_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["selfcheck", "--reference", "nope"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "unknown reference model 'nope'; choose one of: gap-cnn, simplecnn" in captured.err


@pytest.mark.slow
def test_real_process_json() -> None:
    env = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
    done = subprocess.run(
        [sys.executable, "-m", "summarytool", "selfcheck", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    doc = json.loads(done.stdout)
    assert doc["schema"] == "summarytool.selfcheck/1" and doc["exit_code"] == 1
    assert [s["id"] for s in doc["sections"]] == ["nvml", "torch", "compatibility", "smoke", "reference"]
    assert doc["sections"][0]["verdict"] is None and doc["sections"][0]["data"]["status"] in (
        "no-library",
        "driver-not-loaded",
    )
    failing = [f for s in doc["sections"] for f in s["findings"] if f["verdict"] == "FAIL"]
    assert [f["check"] for f in failing] == ["gpu-visibility"]
    reference = doc["sections"][4]["data"]
    assert reference["total_params"] == 205_602_186 and reference["heaviest"]["share"] > 0.99
    assert doc["process_seconds"] >= doc["seconds"] > 0
