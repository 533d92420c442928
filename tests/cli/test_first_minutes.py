"""A newcomer's first ten minutes (issue 22): the test runner, the demo and the first summary."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from summarytool import SummaryError, summary

RUNNER = Path(__file__).resolve().parents[1] / "run.py"


def _run_suite(tmp_path: Path, body: str) -> subprocess.CompletedProcess:
    (tmp_path / "test_sample.py").write_text(body)
    return subprocess.run(
        [sys.executable, str(RUNNER), str(tmp_path), "-p", "no:cacheprovider"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )


def test_the_runner_says_why_tests_were_skipped_grouped_with_how_to_enable(tmp_path: Path) -> None:
    done = _run_suite(
        tmp_path,
        "import pytest\n"
        "@pytest.mark.parametrize('i', range(3))\n"
        "def test_image(i):\n"
        "    pytest.skip(\"no Docker engine reachable (DOCKER_HOST=''): cannot connect\")\n"
        "@pytest.mark.skip(reason='needs a CUDA GPU: run on the device machine')\n"
        "def test_gpu():\n"
        "    pass\n"
        "def test_ok():\n"
        "    pass\n",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "why tests were skipped" in out
    assert "   3 skipped: no Docker engine reachable (DOCKER_HOST='')" in out
    assert "   1 skipped: needs a CUDA GPU: run on the device machine" in out
    assert "to run them: start one as .ci/run does" in out


def test_the_runner_fails_when_nothing_was_collected(tmp_path: Path) -> None:
    done = _run_suite(tmp_path, "x = 1\n")
    assert done.returncode == 1
    assert "collected no tests" in done.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message torch gives without a GPU")
def test_device_cuda_without_cuda_says_what_to_use() -> None:
    with pytest.raises(ValueError, match="torch sees no CUDA GPU here") as info:
        summary(nn.Linear(4, 2), input_size=(1, 4), device="cuda", verbose=0)
    assert "device='cpu'" in str(info.value) and "device='meta'" in str(info.value)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the fallback of a machine without CUDA")
def test_a_training_step_estimate_for_cuda_still_works_without_a_gpu() -> None:
    stats = summary(nn.Linear(4, 2), input_size=(1, 4), device="cuda", train_step=True, verbose=0)
    assert stats.memory is not None and stats.memory.peak_bytes > 0


class SmallCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.head = nn.Linear(8 * 30 * 30, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.flatten(self.conv(x), 1))


class SmallMLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(20, 5)
        self.out = nn.Linear(5, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.fc(x).view(x.shape[0], -1))


@pytest.mark.parametrize(("model", "shape"), [(SmallCNN(), (3, 32, 32)), (SmallMLP(), (20,))])
def test_a_forgotten_batch_dimension_is_named(model: nn.Module, shape: tuple) -> None:
    with pytest.raises(SummaryError) as info:
        summary(model, input_size=shape, verbose=0)
    text = str(info.value)
    assert "missing batch dimension" in text
    assert f"input_size={(1, *shape)}" in text and "batch_dim=0" in text


def test_no_batch_hint_when_the_batch_is_there() -> None:
    with pytest.raises(SummaryError) as info:
        summary(SmallCNN(), input_size=(2, 3, 31, 31), verbose=0)
    assert "missing batch dimension" not in str(info.value)
