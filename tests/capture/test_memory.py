"""The training-step memory estimate (on meta copies) against a real step tracked on the CPU."""

from __future__ import annotations

import copy

import pytest
import torch
from models import DigitNet, Tagger, Tower
from torch import nn

from summarytool import summary
from summarytool.capture.memory import AllocationTracker, finish_step


def real_step_peak(
    model: nn.Module, x: torch.Tensor, optimizer: str, foreach: bool | None = None
) -> tuple[int, dict]:
    """Peak of live tensors during a real forward/backward/step on the CPU, on a copy of the model."""
    model = copy.deepcopy(model)
    tracker = AllocationTracker()
    tracker.add_existing([*model.parameters(), *model.buffers(), x])
    with tracker:
        out = model(x)
    report = finish_step(tracker, model, out, optimizer, foreach)
    return report.peak_bytes, report.to_dict()


def mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(256, 512), nn.ReLU(), nn.Dropout(0.1), nn.Linear(512, 10))


CASES = [
    ("mlp", mlp, lambda: torch.randn(64, 256), "adam"),
    ("cnn", DigitNet, lambda: torch.randn(8, 1, 16, 16), "adam"),
    ("cnn-sgd", DigitNet, lambda: torch.randn(8, 1, 16, 16), "sgd"),
    ("batchnorm", Tower, lambda: torch.randn(16, 3), "adamw"),
    ("gru", Tagger, lambda: torch.randint(0, 50, (4, 12)), "adam"),
]


@pytest.mark.parametrize(("name", "make", "data", "optimizer"), CASES, ids=[c[0] for c in CASES])
def test_estimate_matches_a_real_cpu_step_within_5_percent(name, make, data, optimizer) -> None:
    torch.manual_seed(0)
    model, x = make(), data()
    model.train()
    stats = summary(model, input_data=x, train_step=optimizer, verbose=0)
    real, _ = real_step_peak(model, x, optimizer)
    estimate = stats.memory.peak_bytes
    assert abs(estimate - real) <= 0.05 * real, (estimate, real)


def test_split_adds_up_and_names_each_part() -> None:
    model = mlp()
    stats = summary(
        model, (64, 256), train_step=True, col_names=["output_size", "activation_memory"], verbose=0
    )
    m = stats.memory
    params = sum(p.numel() * 4 for p in model.parameters())
    assert m.parameters == params
    assert m.gradients in (0, params)  # at the peak, all gradients exist or none yet
    # Adam: two moments per parameter, plus a scalar step counter per parameter tensor.
    assert m.optimizer_state in (0, 2 * params + 4 * len(list(model.parameters())))
    assert m.peak_bytes == m.parameters + m.gradients + m.optimizer_state + m.activations
    text = str(stats)
    assert "Training step (adam) peak, estimated" in text and "Optimizer state" in text
    # Per row: what each call keeps for the backward pass; the root includes its children.
    root, fc1, relu, drop, fc2 = stats.summary_list
    assert fc1.activation_bytes == 64 * 256 * 4  # addmm keeps its input (the weight is no activation)
    assert relu.activation_bytes == 64 * 512 * 4  # ReLU keeps its result
    assert drop.activation_bytes == 64 * 512 * 4  # dropout keeps its (float) mask
    assert fc2.activation_bytes == 64 * 512 * 4  # the next addmm keeps the dropped-out input
    assert root.activation_bytes == sum(r.activation_bytes for r in (fc1, relu, drop, fc2))


def test_training_step_estimate_leaves_the_model_alone() -> None:
    model = mlp()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    summary(model, (64, 256), train_step="sgd", verbose=0)
    assert all(p.grad is None for p in model.parameters())
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k])


def test_train_step_needs_input_and_a_known_optimizer() -> None:
    with pytest.raises(ValueError, match="train_step needs input_size"):
        summary(mlp(), train_step=True, verbose=0)
    with pytest.raises(ValueError, match="train_step must be True, False or one of"):
        summary(mlp(), (2, 256), train_step="lion", verbose=0)


def test_estimate_runs_the_optimizer_as_torch_does_on_the_training_device() -> None:
    # Few activations, many parameters: the optimizer step is the peak, and multi-tensor (foreach)
    # kernels, torch's default on CUDA, make their temporaries for all parameters at once.
    torch.manual_seed(0)
    model, x = mlp(), torch.randn(2, 256)
    on_cpu = summary(model, input_data=x, train_step="adam", verbose=0).memory
    for_cuda = summary(model, (2, 256), device="cuda", train_step="adam", verbose=0).memory  # no GPU needed
    assert "one tensor at a time" in on_cpu.notes[-1] and "foreach" in for_cuda.notes[-1]
    single, _ = real_step_peak(model, x, "adam", foreach=False)
    multi, _ = real_step_peak(model, x, "adam", foreach=True)
    assert abs(multi - single) > 0.1 * single  # the choice matters (which way depends on the model)
    assert abs(on_cpu.peak_bytes - single) <= 0.05 * single
    assert abs(for_cuda.peak_bytes - multi) <= 0.05 * multi
    with torch.device("meta"):
        planned = mlp()  # built on meta, no device given: planned for an accelerator
    assert summary(planned, (2, 256), train_step="adam", verbose=0).memory.peak_bytes == for_cuda.peak_bytes
