"""measure_memory=True: memory measured on the device, against the estimate and against the caller's model.

On the CPU the instrument is the live-tensor tracker; on CUDA it is the caching allocator. The
CUDA tests at the bottom run where torch sees a GPU (the device tool's machines), and skip
elsewhere; the CUDA instrument's protocol is checked here against a stand-in for torch.cuda.
"""

from __future__ import annotations

import gc
import weakref

import pytest
import torch
from models import DigitNet, Tagger, Tower
from torch import nn

from summarytool import ModelStatistics, summary
from summarytool.capture.measured import CudaPeak, LiveTensorPeak, measure_train_step
from summarytool.zoo import reference_encoder, resnet50_like

HAS_CUDA = torch.cuda.is_available()


def mlp() -> nn.Sequential:
    return nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 10))


def test_forward_pass_measured_on_cpu_is_what_the_pass_holds_at_once() -> None:
    model, x = mlp(), torch.randn(32, 64)
    stats = summary(model, input_data=x, measure_memory=True, verbose=0)
    m = stats.measured_memory
    assert (m.device, m.method) == ("cpu", "live tensor storages")
    params = sum(p.numel() * 4 for p in model.parameters())
    assert m.in_use_before_bytes == params + x.numel() * 4
    # The first Linear's output and the ReLU's output are alive together; then the first is freed
    # before the last Linear's (smaller) output exists.
    assert m.forward_peak_bytes == 2 * 32 * 256 * 4
    assert m.train_step is None and stats.memory is None


MODELS = [
    ("mlp-adam", mlp, lambda: torch.randn(32, 64), "adam"),
    ("cnn-sgd", DigitNet, lambda: torch.randn(8, 1, 16, 16), "sgd"),
    ("batchnorm-adamw", Tower, lambda: torch.randn(16, 3), "adamw"),
    ("gru-adam", Tagger, lambda: torch.randint(0, 50, (4, 12)), "adam"),
    ("transformer-adam", reference_encoder, lambda: torch.randn(2, 128, 256), "adam"),
]


@pytest.mark.parametrize(("name", "make", "data", "optimizer"), MODELS, ids=[m[0] for m in MODELS])
def test_measured_cpu_training_step_agrees_with_the_estimate(name, make, data, optimizer) -> None:
    torch.manual_seed(0)
    model, x = make(), data()
    model.train()
    stats = summary(model, input_data=x, train_step=optimizer, measure_memory=True, verbose=0)
    estimate, measured = stats.memory, stats.measured_memory.train_step
    assert measured.device == "cpu" and estimate.device == "meta"
    assert abs(estimate.peak_bytes - measured.peak_bytes) <= 0.05 * measured.peak_bytes
    assert measured.parameters == estimate.parameters == sum(p.numel() * 4 for p in model.parameters())
    parts = measured.parameters + measured.gradients + measured.optimizer_state + measured.activations
    assert parts == measured.peak_bytes


def test_measured_training_step_leaves_the_callers_model_alone() -> None:
    torch.manual_seed(0)
    model = Tower()  # BatchNorm: a training step would update its running statistics
    model.train()
    model.blocks[0].eval()  # mixed flags must come back as they were
    before = {k: v.clone() for k, v in model.state_dict().items()}
    flags = [m.training for m in model.modules()]
    rng = torch.get_rng_state()
    summary(model, (16, 3), train_step="adam", measure_memory=True, verbose=0)
    assert all(p.grad is None for p in model.parameters())
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    assert [m.training for m in model.modules()] == flags
    assert torch.equal(torch.get_rng_state(), rng)


def test_a_model_built_on_meta_is_measured_on_a_real_device() -> None:
    with torch.device("meta"):
        model = DigitNet()
    stats = summary(model, (8, 1, 16, 16), device="cpu", train_step="sgd", measure_memory=True, verbose=0)
    assert stats.measured_memory.train_step.parameters == sum(p.numel() * 4 for p in DigitNet().parameters())
    assert all(p.is_meta for p in model.parameters())
    est, real = stats.memory.peak_bytes, stats.measured_memory.train_step.peak_bytes
    assert abs(est - real) <= 0.05 * real


def test_footer_shows_the_measurement_and_it_survives_an_export() -> None:
    stats = summary(mlp(), (32, 64), train_step="sgd", measure_memory=True, verbose=0)
    text = str(stats)
    for line in (
        "Training step (sgd) peak, estimated (kB):",
        "Forward pass peak, measured on cpu (kB):",
        "  In use before the pass (kB):",
        "  Added by the pass (kB):",
        "Training step (sgd) peak, measured on cpu (kB):",
    ):
        assert line in text, line
    data = stats.to_dict()
    assert data["measured_memory"]["train_step"]["peak_bytes"] == stats.measured_memory.train_step.peak_bytes
    assert data["settings"]["run"]["measure_memory"] is True
    loaded = ModelStatistics.from_json(stats.to_json())
    assert str(loaded) == text
    assert loaded.to_dict() == data
    assert "Added by the pass" in loaded.to_markdown()
    # Without the option the table is torchinfo's, with no measurement in it.
    plain = summary(mlp(), (32, 64), verbose=0)
    assert plain.measured_memory is None and "measured" not in str(plain)
    assert "measured_memory" not in plain.to_dict()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "measure_memory needs input_size or input_data"),
        ({"input_size": (2, 64), "device": "meta"}, "dry run on 'meta'"),
        ({"input_size": (2, 64), "device": "meta", "train_step": True}, "dry run on 'meta'"),
        ({"input_data": torch.empty(2, 64, device="meta"), "train_step": True}, "real input tensors"),
    ],
    ids=["no-input", "meta", "meta-train-step", "meta-input-data"],
)
def test_measuring_where_nothing_can_be_measured_says_what_to_do(kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        summary(mlp(), measure_memory=True, verbose=0, **kwargs)


@pytest.mark.skipif(HAS_CUDA, reason="checks the message torch gives without a GPU")
def test_measuring_on_cuda_without_a_gpu_is_a_clear_error() -> None:
    for extra in ({}, {"train_step": True}):
        with pytest.raises(ValueError, match="CUDA is not available here"):
            summary(mlp(), (2, 64), device="cuda", measure_memory=True, verbose=0, **extra)


class FakeCuda:
    """A stand-in for torch.cuda's memory counters that logs every call."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.allocated, self.peak = 1000, 5000

    def synchronize(self, device: object) -> None:
        self.calls.append("sync")

    def memory_allocated(self, device: object) -> int:
        self.calls.append("allocated")
        return self.allocated

    def reset_peak_memory_stats(self, device: object) -> None:
        self.calls.append("reset")
        self.peak = self.allocated

    def max_memory_allocated(self, device: object) -> int:
        self.calls.append("max")
        return self.peak


def test_cuda_instrument_synchronises_before_every_read_and_resets_the_peak() -> None:
    from summarytool.capture.measured import measured_forward

    cuda = FakeCuda()
    probe = CudaPeak(torch.device("cuda", 1), cuda)
    into: dict[str, int] = {}
    with measured_forward(probe, [], into):
        cuda.calls.append("forward")
        cuda.peak = 1700  # what the pass allocated at most
    assert cuda.calls == ["sync", "allocated", "sync", "reset", "forward", "sync", "max"]
    assert into == {"in_use_before_bytes": 1000, "forward_peak_bytes": 700}


# ----- on a GPU (the device tool's machines) -------------------------------------------------


# Large enough that the fixed cuBLAS workspace (32 MiB on Hopper, allocated by the first matmul and
# counted by the allocator) is a few percent of the step, as on real training runs.
GPU_CASES = [
    ("cnn", resnet50_like, (64, 3, 224, 224)),
    ("transformer", reference_encoder, (128, 128, 256)),
]


@pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA GPU: run on the device machine")
@pytest.mark.parametrize(("name", "make", "shape"), GPU_CASES, ids=[c[0] for c in GPU_CASES])
def test_estimate_is_within_10_percent_of_cuda_max_memory_allocated(name, make, shape) -> None:
    torch.manual_seed(0)
    model = make().cuda().train()
    x = torch.randn(shape, device="cuda")
    stats = summary(model, input_data=x, train_step="adam", measure_memory=True, verbose=0)
    measured = stats.measured_memory
    assert measured.method == "torch.cuda.max_memory_allocated"
    real, estimate = measured.train_step.peak_bytes, stats.memory.peak_bytes
    print(f"{name} {list(shape)}: estimate {estimate:,} B, measured {real:,} B, ratio {estimate / real:.3f}")
    assert abs(estimate - real) <= 0.10 * real
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA GPU: run on the device machine")
def test_forward_pass_measured_on_cuda() -> None:
    model = reference_encoder().cuda().eval()
    stats = summary(model, (8, 128, 256), measure_memory=True, verbose=0)
    m = stats.measured_memory
    assert m.device.startswith("cuda") and m.method == "torch.cuda.max_memory_allocated"
    assert m.in_use_before_bytes >= sum(p.numel() * 4 for p in model.parameters())
    assert m.forward_peak_bytes >= 8 * 128 * 10 * 4  # at least the output


SEEN: list = []


class Greedy(nn.Module):
    """Runs out of memory in the backward-enabled forward pass on a real device (a stand-in for CUDA OOM)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(64, 64)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        SEEN.append(weakref.ref(self))
        hidden = self.fc(x)
        if not x.is_meta and torch.is_grad_enabled():
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
        return hidden


def test_running_out_of_memory_while_measuring_says_what_to_do_and_frees_the_copy() -> None:
    SEEN.clear()
    model = Greedy()
    with pytest.raises(
        torch.OutOfMemoryError, match="out of memory while measuring a training step"
    ) as caught:
        summary(model, (8, 64), train_step=True, measure_memory=True, verbose=0)
    assert "Tried to allocate 20.00 GiB" in str(caught.value)  # torch's own message is kept
    assert "leave out measure_memory" in str(caught.value)
    gc.collect()
    # The device copy is freed (the meta copy of the estimate may live on in the traceback: it holds no memory).
    alive = [ref() for ref in SEEN]
    assert not [c for c in alive if c is not None and c is not model and not c.fc.weight.is_meta]
    assert len(SEEN) >= 2  # the copies did run


class Busy(LiveTensorPeak):
    """A device where 1 MB belongs to someone else: the allocator counts it, the step must not."""

    OTHER = 1_000_000

    def allocated(self) -> int:
        return super().allocated() + self.OTHER

    def peak(self) -> int:
        return super().peak() + self.OTHER


def test_a_measured_step_counts_only_what_it_allocates_itself() -> None:
    torch.manual_seed(0)
    model, cpu = mlp(), torch.device("cpu")
    alone = measure_train_step(model, lambda: [torch.randn(32, 64)], {}, cpu, True, "adam")
    shared = measure_train_step(model, lambda: [torch.randn(32, 64)], {}, cpu, True, "adam", probe=Busy(cpu))
    assert shared.train_step.peak_bytes == alone.train_step.peak_bytes
    assert shared.in_use_before_bytes == alone.in_use_before_bytes + Busy.OTHER  # "in use" is the device's
    assert shared.forward_peak_bytes == alone.forward_peak_bytes
    # The inputs are made inside the measurement and counted, as the estimate counts them.
    estimate = summary(model, (32, 64), train_step="adam", verbose=0).memory.peak_bytes
    assert alone.train_step.peak_bytes == estimate


def test_the_forward_pass_is_measured_where_it_runs() -> None:
    # input_data is never moved (torchinfo's rule), so device= does not say where the pass runs.
    stats = summary(mlp(), input_data=torch.randn(4, 64), device="cuda", measure_memory=True, verbose=0)
    assert stats.measured_memory.device == "cpu"


def test_a_cached_forward_pass_is_not_used_when_measuring() -> None:
    from summarytool import clear_cached_forward_pass

    clear_cached_forward_pass()
    model = mlp()
    for _ in range(2):
        stats = summary(
            model, (4, 64), cache_forward_pass=True, train_step=True, measure_memory=True, verbose=0
        )
        assert stats.memory is not None and stats.measured_memory.train_step is not None
    clear_cached_forward_pass()
