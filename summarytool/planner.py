"""Will it fit? Training-step memory for real setups, and the largest batch (or sequence) that fits.

The estimate of one training step (summary(..., train_step=...), on meta copies) gives the peak of
the forward and backward passes, the gradients alive then, the optimizer state a step leaves and
the step's own peak. From those, the memory of a later step of a real setup follows by arithmetic:
optimizer state already allocated, gradients kept across accumulated micro-batches, and the share
of parameters, gradients and state one rank holds under DDP, ZeRO-1/2 or FSDP. The planner then
searches the batch size (or sequence length) with a few dry runs: two to fit a line, then
secants through the probes nearest the budget, and the answer checked at it and the next size.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from summarytool.capture.dry_run import meta_copy
from summarytool.capture.memory import OPTIMIZERS, MemoryReport, foreach_on, reused_optimizer_steps
from summarytool.capture.precision import PRECISIONS, autocast_rules, is_mixed, low_dtype

SHARDING = ("none", "ddp", "zero1", "zero2", "fsdp")
# What the CUDA context, cuBLAS/cuDNN workspaces and the caching allocator's rounding take beyond
# the tensors: kept out of a GPU's free memory before the search (documented in the README).
GPU_CONTEXT_BYTES = 1 << 30
GPU_FRAGMENTATION = 0.05
_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9}
_UNITS |= {"t": 10**12, "tb": 10**12, "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


@dataclass(frozen=True)
class TrainingSetup:
    """How the model is trained; every field changes what one rank holds at the peak."""

    optimizer: str = "adamw"
    precision: str = "fp32"
    accumulate: int = 1  # micro-batches per optimizer step (gradients are kept between them)
    set_to_none: bool = True  # zero_grad(set_to_none=True), torch's default: no gradients in the forward
    world_size: int = 1
    shard: str = "none"
    checkpoint: tuple[str, ...] = ()  # module classes estimated as if wrapped in torch.utils.checkpoint
    device: str = "cuda"  # where training runs (kernel choices and autocast rules of the estimate)

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}.")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}.")
        if self.shard not in SHARDING:
            raise ValueError(f"shard must be one of {', '.join(SHARDING)}, got {self.shard!r}.")
        for name, value in (("accumulate", self.accumulate), ("world_size", self.world_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}.")
        if self.shard == "none" and self.world_size > 1:
            raise ValueError("world_size > 1 needs a shard strategy: ddp, zero1, zero2 or fsdp.")

    @property
    def autocast_rules(self) -> str | None:
        """Whose autocast op lists a mixed precision is estimated with ("cuda" but on the CPU)."""
        return autocast_rules(self.precision, self.device)


@dataclass
class StepMemory:
    """Peak bytes of one rank in a training step of `setup`, and what holds them."""

    peak_bytes: int
    parameters: int
    gradients: int
    optimizer_state: int
    activations: int  # activations, temporaries and inputs at the peak
    trainable_bytes: int
    frozen_bytes: int
    phase: str  # "forward/backward" or "optimizer step": where the peak is
    forward_backward_bytes: int = 0  # the peak of each phase (the larger is peak_bytes)
    optimizer_step_bytes: int = 0
    notes: list[str] = field(default_factory=list)


@dataclass
class FitResult:
    """The planner's answer: the largest size whose estimated peak fits `budget_bytes`."""

    search: str  # "batch" or "seq"
    max_size: int  # 0: not even size 1 fits
    peak_bytes: int | None  # at max_size
    next_peak_bytes: int | None  # at max_size + 1
    budget_bytes: int
    setup: TrainingSetup
    split: StepMemory | None
    probes: dict[int, int] = field(default_factory=dict)  # size -> estimated peak, every dry run made
    advice: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        key = "max_batch" if self.search == "batch" else "max_seq"
        return {
            key: self.max_size,
            "search": self.search,
            "peak_bytes": self.peak_bytes,
            "next_peak_bytes": self.next_peak_bytes,
            "budget_bytes": self.budget_bytes,
            "setup": {**asdict(self.setup), "autocast_rules": self.setup.autocast_rules},
            "split": None if self.split is None else asdict(self.split),
            "probes": {str(k): v for k, v in sorted(self.probes.items())},
            "advice": self.advice,
        }


# ----- the memory of a setup, from one estimated step ----------------------------------------------
def step_memory(report: MemoryReport, setup: TrainingSetup, model: nn.Module) -> StepMemory:
    """What one rank holds at the peak of a later training step of `setup` (pure arithmetic)."""
    n = setup.world_size
    params = report.parameters
    trainable = sum(_nbytes(p) for p in model.parameters() if p.requires_grad)
    frozen = sum(_nbytes(p) for p in model.parameters() if not p.requires_grad)
    grads = trainable  # every trainable parameter has its gradient after the backward pass
    state = report.persistent_optimizer_state or report.optimizer_state
    fb_peak = report.forward_backward_peak_bytes or report.peak_bytes
    fb_grads = report.forward_backward_gradients or 0
    act = max(0, fb_peak - params - fb_grads)  # activations and temporaries at the passes' peak
    act_forward = max(0, (report.forward_peak_bytes or fb_peak) - params)  # at the forward's own peak
    opt_tmp = max(0, report.peak_bytes - params - grads - state)  # the optimizer step's temporaries
    notes: list[str] = []
    unit = _largest_unit(model, setup.checkpoint)
    p_r, g_r, s_r, fb_g_r, extra = params, grads, state, fb_grads, 0
    if setup.shard in ("ddp", "zero1"):  # torch's ZeRO-1, ZeroRedundancyOptimizer, runs over DDP
        extra = grads
        notes.append("DDP keeps its gradient buckets beside the gradients (gradient_as_bucket_view=False)")
    if setup.shard in ("zero1", "zero2", "fsdp"):
        s_r = state / n if setup.optimizer != "adafactor" else state * _adafactor_share(model, setup, notes)
        # ZeroRedundancyOptimizer gives each rank whole parameters: a per-parameter (not foreach)
        # step's temporaries are a whole parameter's, as on one rank.
        if setup.shard != "zero1" or foreach_on(torch.device(setup.device)):
            opt_tmp = opt_tmp / n
    if setup.shard in ("zero2", "fsdp"):
        g_r, fb_g_r = grads / n, fb_grads / n
    if setup.shard == "fsdp":
        p_r = params / n
        # The all-gathered unit in use, the next one prefetched, and in the backward pass the
        # reduce-scatter input of the unit just done (measured: FSDP2 on 2 gloo ranks).
        extra = 3 * unit
        notes.append(
            f"FSDP all-gathers one unit at a time (the largest: {unit:,} bytes), the next prefetched, "
            "while the last one's gradients are reduce-scattered"
        )
    keeps_grads = setup.accumulate > 1 or not setup.set_to_none
    if keeps_grads:
        notes.append("gradients are alive through the forward pass (accumulation or set_to_none=False)")
    if keeps_grads:  # all gradients exist from the start: the forward's own peak may be the larger
        phase_fb = p_r + s_r + extra + g_r + max(act, act_forward)
    else:
        phase_fb = p_r + s_r + extra + fb_g_r + act
    phase_opt = p_r + g_r + s_r + opt_tmp + (extra if setup.shard in ("ddp", "zero1") else 0)
    peak = max(phase_fb, phase_opt)
    phase = "forward/backward" if phase_fb >= phase_opt else "optimizer step"
    held = p_r + g_r + s_r
    return StepMemory(
        peak_bytes=math.ceil(peak),
        parameters=math.ceil(p_r),
        gradients=math.ceil(g_r),
        optimizer_state=math.ceil(s_r),
        activations=max(0, math.ceil(peak - held)),
        trainable_bytes=trainable,
        frozen_bytes=frozen,
        phase=phase,
        forward_backward_bytes=math.ceil(phase_fb),
        optimizer_step_bytes=math.ceil(phase_opt),
        notes=notes,
    )


def _adafactor_share(model: nn.Module, setup: TrainingSetup, notes: list[str]) -> float:
    """The share of torch.optim.Adafactor's state the fullest rank holds (its state is not evenly
    shardable: a row and a column factor per matrix, the full second moment of a vector).

    ZeRO (ZeroRedundancyOptimizer) gives each rank whole parameters, greedily by size (largest
    first, to the rank with the fewest elements so far), so a rank holds the factors of its own
    parameters. Under FSDP2 Adafactor's factors of a sharded (DTensor) matrix are made replicated:
    whole on every rank; a vector's second moment is sharded like the vector.
    """
    n = setup.world_size
    params = [p for p in model.parameters() if p.requires_grad]
    state = [_adafactor_state(p) for p in params]
    total = sum(state)
    if not total:
        return 1 / n
    if setup.shard == "fsdp":
        held = sum(s if p.dim() > 1 else s / n for p, s in zip(params, state, strict=True))
        notes.append(
            "adafactor's row and column factors are whole on every FSDP rank (torch makes them "
            "replicated DTensors); its first step fails on FSDP2's parameters on torch 2.13, so this is "
            "what it allocates, not a step that runs"
        )
    else:
        sizes, held_by = [0] * n, [0] * n
        for p, s in sorted(zip(params, state, strict=True), key=lambda ps: ps[0].numel(), reverse=True):
            rank = sizes.index(min(sizes))
            sizes[rank] += p.numel()
            held_by[rank] += s
        held = max(held_by)
        notes.append("adafactor's state is that of the parameters ZeRO gives the fullest rank (whole ones)")
    return held / total


def _adafactor_state(p: torch.Tensor) -> int:
    """Elements of torch.optim.Adafactor's state for `p`: a row and a column factor, or a vector's."""
    if p.dim() > 1:
        return p.numel() // p.shape[-1] + p.numel() // p.shape[-2]
    return p.numel()


def _nbytes(p: torch.Tensor) -> int:
    return p.numel() * p.element_size()


def _largest_unit(model: nn.Module, classes: Sequence[str]) -> int:
    """Parameter bytes of the largest FSDP unit: a checkpointed class, else the most repeated block."""
    by_class: dict[str, list[nn.Module]] = {}
    for m in model.modules():
        by_class.setdefault(type(m).__name__, []).append(m)
    chosen = [m for c in classes for m in by_class.get(c, [])]
    if not chosen:
        repeated = [ms for ms in by_class.values() if len(ms) > 1 and any(True for _ in ms[0].parameters())]
        chosen = max(repeated, key=lambda ms: sum(_nbytes(p) for p in ms[0].parameters()), default=[model])
    return max(sum(_nbytes(p) for p in m.parameters()) for m in chosen)


# ----- one estimate ---------------------------------------------------------------------------------
def prepare(model: nn.Module, setup: TrainingSetup) -> nn.Module:
    """A meta copy of `model` set up as trained: blocks of the checkpoint classes checkpointed, cast
    to the dtype of a pure low precision. Made once per fit(), not per probe."""
    work = meta_copy(model)
    if setup.checkpoint:
        found = {type(m).__name__ for m in work.modules()}
        missing = [c for c in setup.checkpoint if c not in found]
        if missing:
            raise ValueError(
                f"checkpoint class(es) {missing} are not in the model; its classes include "
                f"{sorted(found)[:12]}"
            )
        for m in work.modules():
            if type(m).__name__ in setup.checkpoint:
                m.__class__ = _checkpointed(type(m))
    low = low_dtype(setup.precision)
    if low is not None and not is_mixed(setup.precision):
        work.to(low)  # pure low precision: the bytes the setup's arithmetic reads are the cast ones
    return work


_CHECKPOINTED: dict[type, type] = {}


def _checkpointed(cls: type) -> type:
    """`cls` whose forward runs under torch.utils.checkpoint (non-reentrant); rows keep its name."""
    if cls not in _CHECKPOINTED:
        from torch.utils.checkpoint import checkpoint

        def forward(self: nn.Module, *args: Any, **kwargs: Any) -> Any:
            return checkpoint(cls.forward, self, *args, use_reentrant=False, **kwargs)

        _CHECKPOINTED[cls] = type(
            cls.__name__, (cls,), {"forward": forward, "_get_name": lambda self: cls.__name__}
        )
    return _CHECKPOINTED[cls]


def estimate(
    model: nn.Module,
    input_size: Any = None,
    input_data: Any = None,
    setup: TrainingSetup | None = None,
    dtypes: Sequence[Any] | None = None,
    **kwargs: Any,
) -> StepMemory:
    """One rank's peak memory in a training step of `setup` (nothing is allocated; no GPU needed)."""
    setup = setup or TrainingSetup()
    return _estimate(prepare(model, setup), input_size, input_data, setup, dtypes, kwargs)


def _estimate(
    work: nn.Module,
    input_size: Any,
    input_data: Any,
    setup: TrainingSetup,
    dtypes: Any,
    kwargs: dict[str, Any],
) -> StepMemory:
    from summarytool.api import summary

    stats = summary(
        work,
        input_size=input_size,
        input_data=input_data,
        dtypes=dtypes,
        train_step=setup.optimizer,
        precision=setup.precision,
        device=setup.device,
        depth=0,
        verbose=0,
        **kwargs,
    )
    assert stats.memory is not None
    return step_memory(stats.memory, setup, work)


# ----- the search ----------------------------------------------------------------------------------
def parse_memory(text: str | int | float) -> int:
    """Bytes from `16GiB`, `16GB`, `1.5e9` or `gpu` / `gpu:INDEX` (free memory less a safety margin)."""
    if isinstance(text, bool):
        raise ValueError(f"memory must be a size like '16GiB' or 'gpu', got {text!r}.")
    if isinstance(text, (int, float)):
        if not math.isfinite(text) or text <= 0:
            raise ValueError(f"memory must be a positive size, got {text!r}.")
        return int(text)
    value = str(text).strip().lower()
    if value == "gpu" or value.startswith("gpu:"):
        return gpu_budget(int(value[4:]) if value.startswith("gpu:") and value[4:].isdigit() else 0)
    found = re.fullmatch(r"([0-9]{1,15}(?:\.[0-9]{1,6})?(?:e[0-9]{1,2})?)\s*([a-z]{0,3})", value)
    if not found or found.group(2) not in _UNITS:
        raise ValueError(f"memory {text!r} is not a size: use e.g. 16GiB, 24GB, 8e9 or gpu / gpu:1.")
    size = float(found.group(1)) * _UNITS[found.group(2)]
    if not math.isfinite(size) or size < 1:
        raise ValueError(f"memory {text!r} is not a positive size.")
    return int(size)


def gpu_budget(index: int = 0) -> int:
    """Free memory of GPU `index` (NVML), less the CUDA context and the allocator's rounding."""
    from summarytool.selfcheck.nvml import query

    info = query()
    if not info.available:
        raise ValueError(f"memory='gpu' needs an NVIDIA GPU: NVML says {info.error or info.status}.")
    if not 0 <= index < len(info.gpus):
        raise ValueError(f"memory='gpu:{index}': this host has {len(info.gpus)} GPU(s), numbered from 0.")
    gpu = info.gpus[index]
    free = gpu.memory_total_bytes - gpu.memory_used_bytes
    return max(0, int((free - GPU_CONTEXT_BYTES) * (1 - GPU_FRAGMENTATION)))


def _resized(shapes: list[tuple[int, ...]], dim: int, size: int) -> list[tuple[int, ...]]:
    out = []
    for shape in shapes:
        if len(shape) <= dim:
            raise ValueError(f"input shape {shape} has no dimension {dim} to search over.")
        out.append((*shape[:dim], size, *shape[dim + 1 :]))
    return out


def fit(
    model: nn.Module,
    input_size: Any = None,
    memory: str | int | float = "gpu",
    *,
    train_step: str = "adamw",
    precision: str = "fp32",
    checkpoint: Sequence[str] = (),
    accumulate: int = 1,
    set_to_none: bool = True,
    world_size: int = 1,
    shard: str = "none",
    search: str = "batch",
    batch_dim: int = 0,
    dtypes: Sequence[Any] | None = None,
    device: str = "cuda",
    max_size: int = 1 << 20,
    progress: Callable[[int, int], None] | None = None,
    **kwargs: Any,
) -> FitResult:
    """The largest batch (``search="batch"``, dimension `batch_dim`) or sequence length (``"seq"``,
    dimension 1) of `input_size` whose estimated training-step peak fits in `memory` per rank.

    `memory`: bytes, a size such as ``"16GiB"``, or ``"gpu"`` / ``"gpu:INDEX"`` (that GPU's free memory
    through NVML, less ``GPU_CONTEXT_BYTES`` and ``GPU_FRAGMENTATION``). Each probe is a dry run on
    meta copies; nothing is allocated and no GPU is needed but for ``memory="gpu"``.
    """
    setup = TrainingSetup(
        optimizer=train_step,
        precision=precision,
        accumulate=accumulate,
        set_to_none=set_to_none,
        world_size=world_size,
        shard=shard,
        checkpoint=tuple(checkpoint),
        device=device,
    )
    if search not in ("batch", "seq"):
        raise ValueError(f"search must be 'batch' or 'seq', got {search!r}.")
    if input_size is None:
        raise ValueError(
            "fit() needs input_size: the shapes whose batch (or sequence) dimension it searches."
        )
    from summarytool.inputs import normalize_input_size

    shapes = normalize_input_size(input_size)
    dim = batch_dim if search == "batch" else 1
    budget = parse_memory(memory)
    work = prepare(model, setup)

    with reused_optimizer_steps():  # (the optimizer step is the same at every size: run once)
        return _search(work, shapes, dim, budget, setup, search, dtypes, max_size, progress, kwargs)


def _search(
    work: nn.Module,
    shapes: list[tuple[int, ...]],
    dim: int,
    budget: int,
    setup: TrainingSetup,
    search: str,
    dtypes: Sequence[Any] | None,
    max_size: int,
    progress: Callable[[int, int], None] | None,
    kwargs: dict[str, Any],
) -> FitResult:
    probes: dict[int, int] = {}
    splits: dict[int, StepMemory] = {}

    def peak(size: int) -> int:
        if size not in probes:
            split = _estimate(work, _resized(shapes, dim, size), None, setup, dtypes, kwargs)
            probes[size], splits[size] = split.peak_bytes, split
            if progress is not None:
                progress(size, split.peak_bytes)
        return probes[size]

    if peak(1) > budget:
        return FitResult(search, 0, None, probes[1], budget, setup, splits[1], probes, _advice(setup, search))
    first_guess = None
    if max_size >= 2:
        # The forward/backward phase grows with the size (activations); the optimizer step's does
        # not: a line through that phase at sizes 1 and 2 gives the first guess.
        peak(2)
        slope = splits[2].forward_backward_bytes - splits[1].forward_backward_bytes
        first_guess = max_size if slope <= 0 else 1 + (budget - splits[1].forward_backward_bytes) / slope
        if search == "seq":  # attention's scores grow with its square: the line is a low bound
            first_guess = min(first_guess, 8)
    lo = search_boundary(peak, budget, max_size, first_guess, dict(probes))
    next_peak = peak(lo + 1) if lo < max_size else None
    return FitResult(search, lo, probes[lo], next_peak, budget, setup, splits[lo], probes)


def search_boundary(
    peak: Callable[[int], int],
    budget: int,
    max_size: int,
    first_guess: float | None = None,
    seen: dict[int, int] | None = None,
) -> int:
    """The size `lo` in [1, max_size] with ``peak(lo) <= budget < peak(lo + 1)`` (or lo = max_size),
    given that size 1 fits, in as few calls of `peak` as it can; `seen` holds the probes made
    already (size -> peak) and gets the new ones.

    The peak is affine in the size on each stretch between a few kinks (where another moment of
    the step becomes the peak), so each guess is where the line through the two probes nearest
    the budget meets it (through a probe on each side when that line leaves the bracket). On a
    straight stretch the guess is the answer, and the next guess, the size after it, is its
    check. While no size is known not to fit, a guess goes at most 4 times further. Two guesses in a row inside the bracket that do not halve the distance to the budget
    are followed by a bisection, so a curved peak cannot make it creep. The answer is always a
    probed size that fits beside a probed size that does not (or max_size): nothing is
    extrapolated unchecked.
    """
    seen = {} if seen is None else seen

    def at(size: int) -> int:
        if size not in seen:
            seen[size] = peak(size)
        return seen[size]

    at(1)
    lo, hi = 1, None  # lo fits; hi (when known) does not
    guess, slow = first_guess, 0
    for size in sorted(seen):
        if seen[size] <= budget and (hi is None or size < hi):
            lo = max(lo, size)
        elif seen[size] > budget and size > lo:
            hi = size if hi is None else min(hi, size)
    while (hi is None and lo < max_size) or (hi is not None and hi - lo > 1):
        upper = max_size if hi is None else hi - 1
        if slow >= 2:
            guess, slow = (lo + upper + 1) / 2, 0
        elif guess is None:
            guess = _secant(seen, budget, lo, hi)
            if guess is None:  # a flat line: double, or halve the bracket
                guess = lo * 2 if hi is None else (lo + hi) / 2
            elif hi is None:  # growing: a peak that bends up cannot send it far beyond
                guess = min(guess, lo * 4)
        candidate = int(min(upper, max(lo + 1, math.floor(guess))))
        closest = min(abs(v - budget) for v in seen.values())
        bracketed = hi is not None
        if at(candidate) <= budget:
            lo = candidate
        else:
            hi = candidate
        guess = None
        if bracketed and abs(seen[candidate] - budget) > closest / 2:
            slow += 1
        else:
            slow = 0
    return lo


def _secant(seen: dict[int, int], budget: int, lo: int, hi: int | None) -> float | None:
    """Where the line through the two probes nearest the budget meets it (None: a flat line)."""
    nearest = sorted(seen, key=lambda size: (abs(seen[size] - budget), -size))
    root = _root(seen, budget, *sorted(nearest[:2])) if len(nearest) > 1 else None
    inside = root is not None and root >= lo and (hi is None or root < hi)
    if inside:
        return root
    # The nearest line leaves the bracket: a probe on each side (or, with no size known not to fit
    # yet, None: double).
    return _root(seen, budget, lo, hi) if hi is not None else None


def _root(seen: dict[int, int], budget: int, a: int, b: int) -> float | None:
    rise = (seen[b] - seen[a]) / (b - a)
    return None if rise <= 0 else a + (budget - seen[a]) / rise


def _advice(setup: TrainingSetup, search: str) -> list[str]:
    """What to try when not even size 1 fits."""
    tips = []
    if not setup.checkpoint:
        tips.append(
            "checkpoint the repeated blocks (--checkpoint CLASSNAME): activations are kept per block only"
        )
    if setup.precision == "fp32":
        tips.append(
            "train in bf16-mixed (--precision bf16-mixed), or pure bf16 to halve weights and state too"
        )
    if setup.shard != "fsdp":
        tips.append("shard over several GPUs (--world-size N --shard fsdp): weights, gradients and state / N")
    if setup.optimizer in ("adam", "adamw"):
        tips.append(
            "Adam keeps two state tensors per weight, SGD one, Adafactor (--train-step adafactor) "
            "a row and a column per matrix"
        )
    if search == "seq":
        tips.append("a shorter sequence")
    return tips
