"""Will it fit? The training-step estimate for real setups and the planner (issue 17).

Reality here is torch's own MemTracker (torch.distributed._tools.mem_tracker), which tracks the
live storages of a real step on CPU by module, parameter, gradient and optimizer state: a tool
independent of summarytool's estimator. The step measured is the second one (the optimizer state
exists already), as in a training loop; the estimate is of that step too.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from live_storages import LiveStorages
from support import cli
from torch import nn
from torch.utils.checkpoint import checkpoint

from summarytool.capture.memory import OPTIMIZERS
from summarytool.commands import fit_cmd
from summarytool.planner import TrainingSetup, _checkpointed, estimate, fit, parse_memory, search_boundary

MemTracker = pytest.importorskip("torch.distributed._tools.mem_tracker").MemTracker


class Block(nn.Module):
    def __init__(self, width: int = 64) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(width, 4 * width), nn.Linear(4 * width, width)
        self.norm = nn.LayerNorm(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x + self.fc2(torch.nn.functional.gelu(self.fc1(x))))


class Tower(nn.Module):
    def __init__(self, blocks: int = 3, own_checkpoint: bool = False) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(Block() for _ in range(blocks))
        self.head = nn.Linear(64, 10)
        self.own_checkpoint = own_checkpoint

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = checkpoint(block, x, use_reentrant=False) if self.own_checkpoint else block(x)
        return self.head(x)


def _mlp() -> nn.Module:
    return nn.Sequential(
        nn.Linear(256, 1024), nn.GELU(), nn.Linear(1024, 256), nn.LayerNorm(256), nn.Linear(256, 10)
    )


def _cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 16, 3),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.Conv2d(16, 32, 3),
        nn.Flatten(),
        nn.Linear(32 * 144, 10),
    )


def _encoder() -> nn.Module:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return nn.TransformerEncoder(nn.TransformerEncoderLayer(64, 4, 128, batch_first=True, dropout=0.0), 2)


MODELS = {
    "mlp": (_mlp, (64, 256)),
    "cnn_batchnorm": (_cnn, (16, 3, 16, 16)),
    "transformer": (_encoder, (8, 32, 64)),
    "gru": (lambda: nn.GRU(32, 64, batch_first=True), (8, 20, 32)),
    "tower": (Tower, (32, 64)),
}
SETUPS = {
    "fp32": TrainingSetup(device="cpu"),
    "bf16_mixed": TrainingSetup(device="cpu", precision="bf16-mixed"),
    "bf16": TrainingSetup(device="cpu", precision="bf16"),
    "accumulate_2": TrainingSetup(device="cpu", accumulate=2),
    "keep_grads": TrainingSetup(device="cpu", set_to_none=False),
    "sgd": TrainingSetup(device="cpu", optimizer="sgd"),
    "adafactor": TrainingSetup(device="cpu", optimizer="adafactor"),
    "adafactor_bf16_mixed": TrainingSetup(device="cpu", optimizer="adafactor", precision="bf16-mixed"),
}


def measured_peak(
    model: nn.Module, shape: tuple[int, ...], setup: TrainingSetup, tracker: str = "memtracker"
) -> int:
    """The peak of a real second training step on CPU, by torch's MemTracker (or LiveStorages)."""
    low = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(setup.precision.removesuffix("-mixed"))
    if low is not None and not setup.precision.endswith("-mixed"):
        model.to(low)
    params = [p for p in model.parameters() if p.requires_grad]
    if setup.optimizer == "sgd":
        opt: torch.optim.Optimizer = torch.optim.SGD(params, lr=0.01, momentum=0.9, foreach=False)
    else:
        kinds = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "adafactor": torch.optim.Adafactor}
        opt = kinds[setup.optimizer](params, foreach=False)

    def step(tracker: Any = None) -> None:
        for i in range(setup.accumulate):
            if tracker is not None and i:
                tracker.reset_mod_stats()  # MemTracker counts one call per module otherwise
            x = torch.randn(shape, dtype=low if low is not None and "mixed" not in setup.precision else None)
            mixed = setup.precision.endswith("-mixed")
            with torch.autocast("cpu", dtype=low) if mixed else torch.enable_grad():
                out = model(x)
            (out[0] if isinstance(out, tuple) else out).float().sum().backward()
        opt.step()
        opt.zero_grad(set_to_none=setup.set_to_none)

    step()  # the first step makes the optimizer state
    if tracker == "live":
        state = [v for values in opt.state.values() for v in values.values() if isinstance(v, torch.Tensor)]
        grads = [p.grad for p in model.parameters() if p.grad is not None]
        with LiveStorages([*model.parameters(), *model.buffers(), *state, *grads]) as live:
            step()
        return live.peak
    memtracker = MemTracker()
    memtracker.track_external(model, opt)
    with memtracker:
        step(memtracker)
    return int(memtracker.get_tracker_snapshot("peak")[torch.device("cpu")]["Total"])


@pytest.mark.parametrize("setup_name", sorted(SETUPS))
@pytest.mark.parametrize("model_name", sorted(MODELS))
def test_estimate_matches_a_real_training_step_within_5_percent(model_name: str, setup_name: str) -> None:
    factory, shape = MODELS[model_name]
    setup = SETUPS[setup_name]
    torch.manual_seed(0)
    estimated = estimate(factory().train(), shape, setup=setup).peak_bytes
    real = measured_peak(factory().train(), shape, setup)
    assert abs(estimated - real) <= 0.05 * real, (estimated, real)


@pytest.mark.parametrize("model_name", sorted(MODELS))
def test_adafactor_state_is_a_row_and_a_column_per_matrix_as_torch_makes_it(model_name: str) -> None:
    factory, shape = MODELS[model_name]
    torch.manual_seed(0)
    split = estimate(factory().train(), shape, setup=SETUPS["adafactor"])
    model = factory().train()
    opt = torch.optim.Adafactor(model.parameters(), foreach=False)
    out = model(torch.randn(shape))
    (out[0] if isinstance(out, tuple) else out).float().sum().backward()
    opt.step()
    real = [v for state in opt.state.values() for v in state.values() if v.dim() > 0]
    assert split.optimizer_state == sum(v.untyped_storage().nbytes() for v in real)
    factored = sum(  # the mean over the last dimension and the mean over the one before it
        4 * (p.numel() // p.shape[-1] + p.numel() // p.shape[-2]) if p.dim() > 1 else 4 * p.numel()
        for p in model.parameters()
    )
    assert split.optimizer_state == factored < split.parameters  # no first moment, no full second one


def test_frozen_half_has_no_gradients_or_state_and_matches_reality() -> None:
    def half_frozen() -> nn.Module:
        model = Tower()
        for p in [*model.blocks[0].parameters(), *model.blocks[1].parameters()]:
            p.requires_grad_(False)
        return model

    setup = TrainingSetup(device="cpu")
    split = estimate(half_frozen(), (32, 64), setup=setup)
    trainable = sum(p.numel() * 4 for p in half_frozen().parameters() if p.requires_grad)
    frozen = sum(p.numel() * 4 for p in half_frozen().parameters() if not p.requires_grad)
    assert (split.trainable_bytes, split.frozen_bytes) == (trainable, frozen)
    assert split.gradients == trainable and split.optimizer_state == 2 * trainable  # AdamW: two moments
    real = measured_peak(half_frozen(), (32, 64), setup, tracker="live")
    assert abs(split.peak_bytes - real) <= 0.05 * real


def test_the_models_own_checkpointing_and_the_as_if_option_both_match_reality() -> None:
    setup = TrainingSetup(device="cpu")
    plain = estimate(Tower(), (256, 64), setup=setup).peak_bytes
    own = estimate(Tower(own_checkpoint=True), (256, 64), setup=setup).peak_bytes
    as_if = estimate(Tower(), (256, 64), setup=TrainingSetup(device="cpu", checkpoint=("Block",))).peak_bytes
    assert own < plain and as_if < plain
    real_own = measured_peak(Tower(own_checkpoint=True), (256, 64), setup)
    assert abs(own - real_own) <= 0.05 * real_own
    checkpointed = Tower()
    for block in checkpointed.blocks:
        block.__class__ = _checkpointed(Block)  # as the option estimates it
    real_as_if = measured_peak(checkpointed, (256, 64), setup)
    assert abs(as_if - real_as_if) <= 0.05 * real_as_if


def test_sharding_divides_what_each_strategy_shards() -> None:
    model, shape = Tower(blocks=4), (16, 64)
    one = estimate(model, shape, setup=TrainingSetup(device="cpu"))
    splits = {
        shard: estimate(model, shape, setup=TrainingSetup(device="cpu", shard=shard, world_size=4))
        for shard in ("ddp", "zero1", "zero2", "fsdp")
    }
    assert splits["ddp"].peak_bytes > one.peak_bytes  # gradient buckets beside the gradients
    assert (
        splits["zero1"].optimizer_state == one.optimizer_state / 4
        and splits["zero1"].gradients == one.gradients
    )
    assert splits["zero2"].gradients == one.gradients / 4
    assert splits["fsdp"].parameters == one.parameters / 4
    assert (
        splits["fsdp"].peak_bytes < splits["zero2"].peak_bytes < splits["zero1"].peak_bytes < one.peak_bytes
    )


@pytest.mark.parametrize("model_name", ["mlp", "transformer", "tower"])
@pytest.mark.parametrize("setup_name", ["fp32", "bf16_mixed"])
def test_the_planners_answer_is_right_at_the_boundary(model_name: str, setup_name: str) -> None:
    """A budget between the estimates at batch 6 and 7: a real step at max_batch fits, at +1 it does not."""
    factory, shape = MODELS[model_name]
    setup = SETUPS[setup_name]
    at = {b: estimate(factory(), (b, *shape[1:]), setup=setup).peak_bytes for b in (6, 7)}
    budget = (at[6] + at[7]) // 2
    result = fit(factory(), (1, *shape[1:]), budget, precision=setup.precision, device="cpu")
    assert result.max_size == 6
    assert measured_peak(factory().train(), (6, *shape[1:]), setup) <= budget
    assert measured_peak(factory().train(), (7, *shape[1:]), setup) > budget


def test_sequence_search_and_nothing_fits_advice() -> None:
    class Tokens(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(100, 32)
            self.block = Block(32)

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            return self.block(self.embed(ids))

    result = fit(Tokens(), (2, 1), "2MB", search="seq", dtypes=[torch.long], device="cpu")
    assert result.max_size > 1 and result.peak_bytes <= 2e6 < result.next_peak_bytes
    nothing = fit(Tokens(), (2, 1), "1kB", search="seq", dtypes=[torch.long], device="cpu")
    assert nothing.max_size == 0 and any("checkpoint" in tip for tip in nothing.advice)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("16GiB", 16 * 2**30),
        ("24GB", 24 * 10**9),
        ("1.5e9", 1_500_000_000),
        ("512 MiB", 512 * 2**20),
        (1000, 1000),
    ],
)
def test_memory_sizes(text: object, value: int) -> None:
    assert parse_memory(text) == value


@given(st.text(max_size=40))
def test_any_memory_text_is_a_size_or_a_value_error(text: str) -> None:
    try:
        size = parse_memory(text)
    except ValueError:
        return
    assert isinstance(size, int) and size >= 1


def test_gpu_memory_without_a_gpu_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    from summarytool.selfcheck import nvml

    monkeypatch.setattr(nvml, "query", lambda: nvml.NvmlInfo(status="no-library", error="NVML not found"))
    with pytest.raises(ValueError, match="needs an NVIDIA GPU"):
        parse_memory("gpu")


MODEL_FILE = Path(__file__).resolve().parents[1] / "models.py"


def test_cli_fit_json_has_the_answer_and_the_setup(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(
        capsys,
        "fit",
        f"{MODEL_FILE}:DigitNet",
        "--input-size",
        "1,1,16,16",
        "--memory",
        "20MB",
        "--format",
        "json",
    )
    assert code == 0, err
    data = json.loads(out)
    assert data["max_batch"] > 1 and data["peak_bytes"] <= data["budget_bytes"] < data["next_peak_bytes"]
    assert data["setup"]["optimizer"] == "adamw" and data["budget_bytes"] == 20_000_000
    code, out, err = cli(
        capsys,
        *("fit", f"{MODEL_FILE}:DigitNet", "--input-size", "1,1,16,16", "--memory", "20MB"),
        *("--train-step", "adafactor", "--format", "json"),
    )
    assert code == 0, err
    factored = json.loads(out)
    assert factored["setup"]["optimizer"] == "adafactor"
    assert factored["split"]["optimizer_state"] < data["split"]["optimizer_state"] / 2
    assert factored["max_batch"] >= data["max_batch"]
    assert fit_cmd.OPTIMIZERS == OPTIMIZERS


def test_cli_fit_text_and_does_not_fit(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(
        capsys, "fit", f"{MODEL_FILE}:DigitNet", "--input-size", "1,1,16,16", "--memory", "20MB"
    )
    assert code == 0 and "Largest batch size that fits:" in out
    code, out, _ = cli(
        capsys, "fit", f"{MODEL_FILE}:DigitNet", "--input-size", "1,1,16,16", "--memory", "1kB"
    )
    assert code == 3 and "Not even a batch size of 1 fits" in out


@pytest.mark.parametrize(
    ("options", "needle"),
    [
        (["--memory", "lots"], "not a size"),
        (["--memory", "1GB", "--checkpoint", "NoSuchBlock"], "not in the model"),
        (["--memory", "1GB", "--world-size", "0"], "world_size must be"),
    ],
)
def test_cli_fit_usage_mistakes(capsys: pytest.CaptureFixture[str], options: list[str], needle: str) -> None:
    code, out, err = cli(capsys, "fit", f"{MODEL_FILE}:DigitNet", "--input-size", "1,1,16,16", *options)
    assert code == 2 and needle in err and "Traceback" not in err


def test_the_two_measuring_tools_agree() -> None:
    """The test's own LiveStorages, used where MemTracker cannot go, reads what MemTracker reads."""
    setup = TrainingSetup(device="cpu")
    by_memtracker = measured_peak(Tower(), (32, 64), setup)
    by_live = measured_peak(Tower(), (32, 64), setup, tracker="live")
    assert abs(by_memtracker - by_live) <= 0.02 * by_memtracker


def _searched(peak: Any, budget: float, max_size: int = 1 << 20, first_guess: float | None = None) -> tuple:
    """search_boundary from probes at sizes 1 and 2 (as fit() makes them): the answer, the probes, and
    the answer found without it (a bisection over every size)."""
    seen = {1: peak(1), 2: peak(2)}
    answer = search_boundary(peak, budget, max_size, first_guess, seen)
    every, above = 1, max_size + 1  # (these peaks grow with the size: bisect for the last that fits)
    while above - every > 1:
        middle = (every + above) // 2
        every, above = (middle, above) if peak(middle) <= budget else (every, middle)
    return answer, seen, every


def test_the_search_finds_a_straight_peak_in_four_dry_runs() -> None:
    answer, seen, every = _searched(lambda n: 400 + 81.5 * n, 16_000, first_guess=191.4)
    assert answer == every == 191 and sorted(seen) == [1, 2, 191, 192]


def test_the_search_past_kinks_checks_the_answer_and_the_next_size() -> None:
    # The 70B FSDP search's shape: three straight stretches, steeper each (GB per sample).
    def kinked(n: int) -> float:
        if n <= 2:
            return 33.228 + 1.185 * (n - 1)
        if n <= 5:
            return 34.413 + 4.437 * (n - 2)
        return 47.724 + 3.736 * (n - 5) if n <= 16 else 88.82 + 21.5 * (n - 16)

    answer, seen, every = _searched(kinked, 85.899, first_guess=45.5)
    assert answer == every == 15 and {15, 16} <= set(seen) and len(seen) <= 7


@settings(deadline=None)
@given(
    st.floats(0.1, 10),
    st.floats(0.001, 5),
    st.sampled_from([0.0, 1e-4, 1e-2]),
    st.integers(1, 500),
    st.floats(0, 20),
    st.floats(0.01, 2000),
    st.sampled_from([300, 1 << 20]),
)
def test_the_search_answer_is_always_the_last_size_that_fits(
    base: float, slope: float, curve: float, kink: int, bend: float, room: float, max_size: int
) -> None:
    def peak(n: int) -> float:
        return base + slope * n + curve * n * n + (bend * (n - kink) if n > kink else 0)

    budget = peak(1) + room
    answer, seen, every = _searched(peak, budget, max_size)
    assert answer == every
    assert answer == max_size or (answer + 1 in seen and seen[answer + 1] > budget)
    assert len(seen) <= 40


# The README's list of ops whose autocast policy differs between CUDA and the CPU (a mixed estimate
# runs under the CPU's): (op, CPU's output dtype, CUDA's) for a bfloat16 input.
AUTOCAST_DIFFERENCES = {
    "softmax": (lambda x: x.softmax(-1), torch.bfloat16, torch.float32),
    "log_softmax": (lambda x: x.log_softmax(-1), torch.bfloat16, torch.float32),
    "layer_norm": (lambda x: nn.functional.layer_norm(x, (8,)), torch.bfloat16, torch.float32),
    "group_norm": (lambda x: nn.functional.group_norm(x.view(4, 2, 4), 2), torch.bfloat16, torch.float32),
    "pow": (lambda x: x.pow(2), torch.bfloat16, torch.float32),
    "rsqrt": (lambda x: x.rsqrt(), torch.bfloat16, torch.float32),
    "exp": (lambda x: x.exp(), torch.bfloat16, torch.float32),
    "log": (lambda x: x.log(), torch.bfloat16, torch.float32),
    "sum": (lambda x: x.sum(), torch.bfloat16, torch.float32),
    "cumsum": (lambda x: x.cumsum(0), torch.bfloat16, torch.float32),
    "norm": (lambda x: x.norm(), torch.bfloat16, torch.float32),
    "softplus": (lambda x: nn.functional.softplus(x), torch.bfloat16, torch.float32),
    "avg_pool3d": (
        lambda x: nn.functional.avg_pool3d(x.view(1, 1, 2, 2, 8), 1),
        torch.float32,
        torch.bfloat16,
    ),
    "mm": (lambda x: x @ x.T, torch.bfloat16, torch.bfloat16),  # the same on both
    "gelu": (lambda x: nn.functional.gelu(x), torch.bfloat16, torch.bfloat16),  # the same on both
}


@pytest.mark.parametrize("op", sorted(AUTOCAST_DIFFERENCES))
def test_the_cpu_and_cuda_autocast_lists_differ_as_the_readme_says(op: str) -> None:
    """CUDA autocast runs on fake CUDA tensors without a GPU (op by op; a whole model needs a CUDA build)."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    call, on_cpu, on_cuda = AUTOCAST_DIFFERENCES[op]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert call(torch.rand(4, 8, dtype=torch.bfloat16) + 0.5).dtype == on_cpu
    with FakeTensorMode(allow_non_fake_inputs=True):
        x = torch.empty(4, 8, dtype=torch.bfloat16, device="cuda")
        before = torch.is_autocast_enabled("cuda"), torch.get_autocast_dtype("cuda")
        torch.set_autocast_enabled("cuda", True)
        torch.set_autocast_dtype("cuda", torch.bfloat16)
        try:
            assert call(x).dtype == on_cuda
        finally:
            torch.set_autocast_enabled("cuda", before[0])
            torch.set_autocast_dtype("cuda", before[1])


@pytest.mark.parametrize(
    ("model_name", "setup_name"),
    [
        ("mlp", "fp32"),
        ("transformer", "bf16_mixed"),
        ("tower", "adafactor"),
        ("cnn_batchnorm", "sgd"),
        ("gru", "bf16"),
        ("mlp", "keep_grads"),
    ],
)
def test_a_reused_optimizer_step_gives_exactly_the_estimate_of_a_step_run(
    model_name: str, setup_name: str
) -> None:
    """fit() runs the optimizer step once and adds its measured peak to what is live at its start at
    every other size: the whole report is the same as running it (including where the peak is)."""
    from summarytool import summary
    from summarytool.capture.memory import reused_optimizer_steps

    factory, shape = MODELS[model_name]
    setup = SETUPS[setup_name]
    sizes = [1, 2, 16, 256] if model_name != "tower" else [1, 2, 1024, 8192]

    def report(model: nn.Module, batch: int, device: str) -> dict[str, Any]:
        stats = summary(
            model,
            input_size=(batch, *shape[1:]),
            train_step=setup.optimizer,
            precision=setup.precision,
            device=device,
            verbose=0,
        )
        return stats.memory.to_dict()

    for device in ("cpu", "cuda"):
        model = factory()
        alone = [report(model, b, device) for b in sizes]
        with reused_optimizer_steps():
            reused = [report(model, b, device) for b in sizes]
        assert reused == alone
        # (Both sides of the phase boundary are covered: the optimizer step's peak and the passes'.)
        if model_name == "tower":
            assert alone[0]["peak_bytes"] > alone[0]["forward_backward_peak_bytes"]
            assert alone[-1]["peak_bytes"] == alone[-1]["forward_backward_peak_bytes"]


class _HandWrittenAttention(nn.Module):
    """Softmax over bf16 scores: CUDA's autocast runs it (and keeps its output) in fp32, the CPU's in bf16."""

    def __init__(self) -> None:
        super().__init__()
        self.qkv = nn.Linear(32, 96)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(x).chunk(3, -1)
        return (q @ k.transpose(-1, -2)).softmax(-1) @ v


def test_a_gpu_plan_uses_cudas_autocast_rules_and_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    on = {
        device: estimate(
            _HandWrittenAttention(), (4, 128, 32), setup=TrainingSetup(device=device, precision="bf16-mixed")
        )
        for device in ("cpu", "cuda")
    }
    # The scores, [4, 128, 128], kept by the softmax for the backward pass: 2 bytes more each on CUDA.
    assert on["cuda"].activations - on["cpu"].activations >= 4 * 128 * 128 * 2
    result = fit(_HandWrittenAttention(), (1, 128, 32), "1MB", precision="bf16-mixed")
    assert result.to_dict()["setup"]["autocast_rules"] == "cuda"
    assert fit(_HandWrittenAttention(), (1, 128, 32), "1MB").to_dict()["setup"]["autocast_rules"] is None
    target = f"{Path(__file__).resolve()}:_HandWrittenAttention"
    code, out, err = cli(
        capsys, "fit", target, "--input-size", "1,128,32", "--memory", "4MB", "--precision", "bf16-mixed"
    )
    assert code == 0, err
    assert "CUDA's autocast op lists" in out.splitlines()[0]
    code, out, err = cli(
        capsys,
        *("fit", target, "--input-size", "1,128,32", "--memory", "4MB", "--precision", "bf16-mixed"),
        *("--device", "cpu", "--format", "json"),
    )
    assert code == 0, err
    assert json.loads(out)["setup"]["autocast_rules"] == "cpu"
