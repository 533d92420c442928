"""Memory measured on a real device: the forward pass, and a training step on a copy of the model.

On CUDA the instrument is the caching allocator (``torch.cuda.max_memory_allocated`` after
``reset_peak_memory_stats``). The CPU has no allocator statistics, so there the instrument is
the live-tensor tracker of the estimate, run on real tensors. The training step runs on a copy
of the model on the device (the caller's weights copied; left uninitialised for a model built on
meta), so the caller's parameters, gradients and optimizer are never touched.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from typing import Any

import torch
from torch import nn

from summarytool.capture.device_memory import available_bytes
from summarytool.capture.dry_run import device_copy
from summarytool.capture.memory import AllocationTracker, MemoryReport, finish_step
from summarytool.capture.precision import cast_inputs, is_mixed, low_dtype
from summarytool.inputs import iter_tensors, map_tensors


@dataclass
class MeasuredMemory:
    """What a real run allocated: the forward pass (above what was in use) and, if asked, a training step."""

    device: str
    method: str  # the instrument: "torch.cuda.max_memory_allocated" or "live tensor storages"
    in_use_before_bytes: int  # allocated when the forward pass started (model, inputs, anything else)
    forward_peak_bytes: int  # the most the forward pass added on top of that
    train_step: MemoryReport | None = None  # a real step on a copy of the model, split like the estimate

    @property
    def forward_peak_total_bytes(self) -> int:
        return self.in_use_before_bytes + self.forward_peak_bytes

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["train_step"] = None if self.train_step is None else self.train_step.to_dict()
        return out

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> MeasuredMemory:
        step = values.get("train_step")
        known = {f.name for f in fields(cls)} - {"train_step"}
        return cls(
            **{k: v for k, v in values.items() if k in known},
            train_step=None if step is None else MemoryReport.from_dict(step),
        )


class CudaPeak:
    """The CUDA caching allocator's counters for one device (synchronised before every read)."""

    method = "torch.cuda.max_memory_allocated"

    def __init__(self, device: torch.device, cuda: Any = None) -> None:
        self.device = device
        self.cuda = torch.cuda if cuda is None else cuda  # a stand-in in tests without a GPU

    def __enter__(self) -> CudaPeak:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def count_existing(self, tensors: list[torch.Tensor]) -> None:
        """The allocator already counts every tensor on the device."""

    def allocated(self) -> int:
        self.cuda.synchronize(self.device)
        return int(self.cuda.memory_allocated(self.device))

    def reset_peak(self) -> None:
        self.cuda.synchronize(self.device)
        self.cuda.reset_peak_memory_stats(self.device)

    def peak(self) -> int:
        self.cuda.synchronize(self.device)
        return int(self.cuda.max_memory_allocated(self.device))


class LiveTensorPeak:
    """CPU: every storage the run creates, from its first op until Python frees it."""

    method = "live tensor storages"

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.tracker = AllocationTracker()
        _warm_up_dispatch()

    def __enter__(self) -> LiveTensorPeak:
        self.tracker.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.tracker.__exit__(*exc)

    def count_existing(self, tensors: list[torch.Tensor]) -> None:
        self.tracker.add_existing([t for t in tensors if t.device.type == "cpu"])

    def allocated(self) -> int:
        return self.tracker.current

    def reset_peak(self) -> None:
        self.tracker.peak = self.tracker.current

    def peak(self) -> int:
        return self.tracker.peak


_warmed_up = False


def _warm_up_dispatch() -> None:
    """Torch imports modules on the first op under a dispatch mode; the frames those imports leave in
    reference cycles would hold the first measured pass's tensors alive (gc is paused in summary())."""
    global _warmed_up
    if not _warmed_up:
        with AllocationTracker():
            torch.zeros(1).add_(1)
        gc.collect()
        _warmed_up = True


Probe = CudaPeak | LiveTensorPeak


def probe_for(device: torch.device) -> Probe:
    """The instrument for `device`, or a clear error where there is none."""
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"measure_memory=True on {device}: CUDA is not available here (torch {torch.__version__}, "
                f"CUDA build: {torch.version.cuda}). Run on a machine with a GPU, or measure on device='cpu'."
            )
        return CudaPeak(device)
    if device.type == "cpu":
        return LiveTensorPeak(device)
    if device.type == "meta":
        raise ValueError(
            "measure_memory=True needs a real device, but this run is a dry run on 'meta' (nothing is allocated). "
            "Pass device='cuda' (or 'cpu') to measure, or use train_step=True alone for the estimate."
        )
    raise ValueError(
        f"measure_memory=True works on CUDA (and ROCm) devices and on the CPU, not on {device.type!r}. "
        "Use train_step=True for an estimate instead."
    )


@contextmanager
def measured_forward(probe: Probe, existing: list[torch.Tensor], into: dict[str, Any]) -> Iterator[None]:
    """Around a forward pass: what was in use before it and the most it added (written to `into`)."""
    with probe:
        probe.count_existing(existing)
        before = probe.allocated()
        probe.reset_peak()
        yield
        into["in_use_before_bytes"] = before
        into["forward_peak_bytes"] = max(0, probe.peak() - before)


def require_real_inputs(x: Any) -> None:
    """Meta inputs cannot be copied to a device for a measured step: say so before anything runs."""
    if any(t.device.type == "meta" for t in iter_tensors(x)):
        raise ValueError(
            "measure_memory=True needs real input tensors, but input_data holds meta tensors. "
            "Pass input_size instead (inputs are then made on the device), or real tensors."
        )


def copy_to(x: Any, device: torch.device) -> Any:
    """A copy of every tensor in a nested structure, on `device` (the caller's tensors stay where they are)."""

    def clone(t: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():  # (a detach() would make a view of the caller's tensor first)
            return t.to(device, copy=True).requires_grad_(t.requires_grad)

    return map_tensors(x, clone)


def _call(model: nn.Module, x: Any, kwargs: dict[str, Any]) -> Any:
    if isinstance(x, dict):
        return model(**x, **kwargs)
    return model(*x, **kwargs)


def measure_train_step(
    model: nn.Module,
    inputs: Callable[[], Any],
    kwargs: dict[str, Any],
    device: torch.device,
    training: bool | None,
    optimizer: str,
    probe: Probe | None = None,
    precision: str = "fp32",
) -> MeasuredMemory:
    """A forward pass and then a training step, for real, on a copy of `model` on `device`.

    `precision` as the estimate's: pure low precision casts the copy and the floating inputs; a
    mixed one runs the step's forward pass under the device's autocast.

    The step's peak counts everything the step needs, as the estimate does: the copy's
    parameters and buffers, the inputs (`inputs()` makes the forward's arguments, a list or a
    dict, on the device, inside the measurement), gradients, optimizer state and activations. `training` sets the copy's mode
    (None keeps each module's own flag); `probe` replaces the device's instrument (tests).
    """
    need = sum(t.numel() * t.element_size() for t in (*model.parameters(), *model.buffers()))
    free = available_bytes(device)
    if free is not None and need > free:
        raise torch.OutOfMemoryError(
            f"summarytool: measuring a training step copies the model to {device}: its weights alone are "
            f"{need / 1e9:,.2f} GB and {free / 1e9:,.2f} GB is free there. Leave out measure_memory: the "
            "estimate (train_step alone) needs no memory on the device."
        )
    failure: str | None = None
    try:
        # A training step needs autograd, also when the caller is inside torch.no_grad().
        with torch.enable_grad():
            return _measure(
                model, inputs, kwargs, device, training, optimizer, probe or probe_for(device), precision
            )
    except torch.OutOfMemoryError as exc:
        failure = str(exc)
    except RuntimeError as exc:  # the CPU allocator's own failure is a plain RuntimeError
        if "allocate" not in str(exc) and "out of memory" not in str(exc).lower():
            raise
        failure = str(exc).splitlines()[0]
    # Raised here, after the handler: the out-of-memory error's traceback (and with it the copy and
    # its activations, held by the frames) is gone, so the device memory is free again.
    raise torch.OutOfMemoryError(
        f"summarytool: out of memory while measuring a training step on {device}. The step runs on a copy "
        f"of the model, beside everything already on the device (your model too, if it is there). Use a "
        f"smaller input, move your model off the device first, or leave out measure_memory: the estimate "
        f"(train_step alone) needs no device memory.\n{failure}"
    )


def _measure(
    model: nn.Module,
    inputs: Callable[[], Any],
    kwargs: dict[str, Any],
    device: torch.device,
    training: bool | None,
    optimizer: str,
    probe: Probe,
    precision: str = "fp32",
) -> MeasuredMemory:
    low = low_dtype(precision)
    with probe:
        start = probe.allocated()
        work = device_copy(model, device)
        if training is not None:
            work.train(training)
        xs, kw = inputs(), copy_to(kwargs, device)
        if low is not None and not is_mixed(precision):
            work.to(low)
            xs, kw = cast_inputs(xs, low), cast_inputs(kw, low)
        # The forward pass as summary() runs it: no autograd.
        before = probe.allocated()
        probe.reset_peak()
        with torch.no_grad():
            out = _call(work, xs, kw)
        forward_peak = max(0, probe.peak() - before)
        del out
        # The training step. A tracker (like the estimate's) tells what is what at its peak.
        probe.reset_peak()
        tracker = AllocationTracker()
        state = [*work.parameters(), *work.buffers()]
        tracker.add_existing([*state, *iter_tensors(xs), *iter_tensors(kw)])
        tracker.exclude_from_activations(state)
        mixed = torch.autocast(device.type, dtype=low) if is_mixed(precision) else contextlib.nullcontext()
        with torch.enable_grad(), tracker, mixed:
            out = _call(work, xs, kw)
        split = finish_step(tracker, work, out, optimizer)
        step_peak = max(0, probe.peak() - start)
        del out, work, xs, kw, state, tracker
    # What the allocator holds beyond the tracked tensors (block rounding, library workspaces) is
    # neither a parameter, a gradient nor optimizer state: it is counted with the temporaries.
    held = split.parameters + split.gradients + split.optimizer_state
    step = MemoryReport(
        optimizer=optimizer,
        peak_bytes=step_peak,
        parameters=split.parameters,
        gradients=split.gradients,
        optimizer_state=split.optimizer_state,
        activations=max(0, step_peak - held),
        device=str(device),
        notes=split.notes,
    )
    return MeasuredMemory(str(device), probe.method, before, forward_peak, step)
