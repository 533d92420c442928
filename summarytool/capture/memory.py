"""Memory of a training step, estimated by tracking every tensor storage the step allocates.

A TorchDispatchMode sees each op's outputs; a storage counts from its first appearance until
Python frees it (a finalizer on the storage object). Run on meta tensors this costs nothing and
needs no GPU; the peak is then split into parameters, gradients, optimizer state and
activations (everything else: saved tensors, temporaries, outputs). Autograd's saved-tensor
hooks say exactly which tensors the backward pass keeps; each is charged to the module calls in
progress when it was saved, so a row shows what its call keeps alive for the backward pass.
"""

from __future__ import annotations

import contextlib
import contextvars
import sys
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from typing import Any

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

OPTIMIZERS = ("adam", "adamw", "sgd", "adafactor")  # torch.optim.Adafactor: torch 2.5 and later


def _key(t: torch.Tensor) -> int:
    return t.untyped_storage()._cdata


@dataclass
class MemoryReport:
    """Peak bytes of one training step (forward, backward, optimizer step) and what held them."""

    optimizer: str
    peak_bytes: int
    parameters: int
    gradients: int
    optimizer_state: int
    activations: int
    device: str = "meta"  # where the step ran: meta for the estimate, the device for a measurement
    # Schema /1 never drops a key: files have carried this since the first release. Always None;
    # measurements are in ModelStatistics.measured_memory.
    measured_peak_bytes: int | None = None
    notes: list[str] = field(default_factory=list)
    # The peak of the forward and backward passes alone (before the optimizer step), the gradients
    # alive at that moment, and the optimizer state the step leaves: what a later step, whose state
    # already exists, and gradient accumulation add up to (see summarytool.fit).
    forward_peak_bytes: int | None = None
    forward_backward_peak_bytes: int | None = None
    forward_backward_gradients: int | None = None
    persistent_optimizer_state: int | None = None
    precision: str = "fp32"
    autocast_rules: str | None = None  # a mixed precision's: whose autocast op lists ("cpu", "cuda")

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> MemoryReport:
        """Keys this version does not know (a newer writer's) are left out."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


class AllocationTracker(TorchDispatchMode):
    def __init__(self, stack: list[tuple[Any, ...]] | None = None) -> None:
        super().__init__()
        self.stack = stack if stack is not None else []
        self.live: dict[int, int] = {}
        self.current = 0
        self.peak = 0
        self.peak_live: dict[int, int] = {}
        # Gradients and optimizer state are recognised at the moment of the peak (storage
        # addresses are reused, so a later look would mistake new tensors for old ones).
        self.categories: Any = None
        self.peak_categories: tuple[set[int], set[int]] = (set(), set())
        # The live set at the peak is copied when the first storage is freed after it (until then
        # it is the live set itself; an allocation first would make a new peak): one copy per
        # local maximum, not one per allocation that raises the peak.
        self._pending = False
        self._saved: set[int] = set()
        self._not_activations: set[int] = set()

    def add_existing(self, tensors: list[torch.Tensor]) -> None:
        """Storages that exist before the step (parameters, buffers, inputs)."""
        for t in tensors:
            self._track(t)

    def exclude_from_activations(self, tensors: list[torch.Tensor]) -> None:
        """Parameters and buffers that autograd saves are not activations."""
        self._not_activations.update(_key(t) for t in tensors)

    def saved_tensor_hooks(self) -> Any:
        """Autograd hooks that charge each saved storage, once, to the calls in progress."""

        def pack(t: torch.Tensor) -> torch.Tensor:
            key = _key(t)
            if key not in self._saved and key not in self._not_activations:
                self._saved.add(key)
                nbytes = t.untyped_storage().nbytes()
                for entry in self.stack:
                    entry[1].activation_bytes += nbytes
            return t

        return torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t)

    def _free(self, key: int) -> None:
        if key not in self.live:
            return
        if self._pending:
            self.settle()
        self.current -= self.live.pop(key)

    def settle(self) -> None:
        """Record the live set and the categories of the last peak, if not yet recorded."""
        if self._pending:
            self._pending = False
            self.peak_live = dict(self.live)
            self.peak_categories = self.categories() if self.categories is not None else (set(), set())

    def _track(self, t: torch.Tensor) -> None:
        storage = t.untyped_storage()
        key = storage._cdata
        if key in self.live:
            return
        nbytes = storage.nbytes()
        self.live[key] = nbytes
        self.current += nbytes
        try:
            weakref.finalize(storage, self._free, key)
        except TypeError:  # pragma: no cover - storages are weak-referenceable on supported torch
            pass
        if self.current > self.peak:
            self.peak = self.current
            self._pending = True

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        out = func(*args, **(kwargs or {}))
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor):
                self._track(t)
        return out


class StandInScalars(TorchDispatchMode):
    """``.item()`` of a meta or fake tensor is 1 (a real tensor's is its value).

    Adafactor reads norms and its step count as Python numbers to scale the update; the numbers
    change the values it writes, not what it allocates.
    """

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        if func is torch.ops.aten._local_scalar_dense.default and _stands_in(args[0]):
            t = args[0]
            return True if t.dtype == torch.bool else 1.0 if t.is_floating_point() else 1
        return func(*args, **(kwargs or {}))


def _stands_in(t: torch.Tensor) -> bool:
    fake = sys.modules.get("torch._subclasses.fake_tensor")  # (imported where fake tensors are made)
    return t.is_meta or (fake is not None and isinstance(t, fake.FakeTensor))


def foreach_on(device: torch.device) -> bool:
    """Whether torch's optimizers default to their multi-tensor (foreach) kernels for parameters on `device`.

    Those kernels make temporaries for all parameters at once, so the step's peak depends on it. A
    model on meta with no device given is taken to train on an accelerator, where that is the default.
    """
    if device.type == "meta":
        return True
    try:
        from torch.utils._foreach_utils import _get_foreach_kernels_supported_devices

        return device.type in _get_foreach_kernels_supported_devices()
    except ImportError:  # pragma: no cover - present on every supported torch
        return device.type == "cuda"


def make_optimizer(
    name: str, params: list[nn.Parameter], foreach: bool | None = None
) -> torch.optim.Optimizer:
    """`foreach=None` lets torch choose for the parameters' device, as a user's optimizer would."""
    if name == "adam":
        return torch.optim.Adam(params, foreach=foreach)
    if name == "adamw":
        return torch.optim.AdamW(params, foreach=foreach)
    if name == "sgd":
        return torch.optim.SGD(params, lr=0.01, momentum=0.9, foreach=foreach)
    if name == "adafactor":  # factored second moments (a row and a column per matrix), no first moment
        return torch.optim.Adafactor(params, foreach=foreach)
    raise ValueError(f"train_step={name!r} is not a known optimizer; use True (Adam) or one of {OPTIMIZERS}.")


def first_tensor(out: Any) -> torch.Tensor | None:
    for t in tree_flatten(out)[0]:
        if isinstance(t, torch.Tensor) and (t.is_floating_point() or t.is_complex()):
            return t
    return None


def finish_step(
    tracker: AllocationTracker,
    model: nn.Module,
    output: Any,
    optimizer_name: str,
    foreach: bool | None = None,
) -> MemoryReport:
    """Backward and optimizer step after a tracked forward pass; the peak split by category."""
    params = [p for p in model.parameters() if p.requires_grad]
    param_keys = {_key(p) for p in model.parameters()}
    notes: list[str] = []
    loss = first_tensor(output)
    optimizer: torch.optim.Optimizer | None = None

    def categories() -> tuple[set[int], set[int]]:
        grads = {_key(p.grad) for p in params if p.grad is not None}
        state: set[int] = set()
        if optimizer is not None:
            for values in optimizer.state.values():
                state.update(_key(v) for v in values.values() if isinstance(v, torch.Tensor))
        return grads, state

    if foreach is None:  # as torch chooses for these parameters
        foreach = bool(params) and foreach_on(params[0].device)
    tracker.categories = categories
    after_backward: tuple[int, int] | None = None
    stepped, reused, extra = False, None, {"optimizer_state": 0, "activations": 0}
    forward_peak = tracker.peak  # the forward pass's own peak (no gradients exist yet)
    with tracker:
        if loss is not None and loss.requires_grad:
            loss.float().sum().backward()
            tracker.settle()
            grad_keys_now, _ = tracker.peak_categories
            grads_at_peak = sum(n for k, n in tracker.peak_live.items() if k in grad_keys_now)
            after_backward = (tracker.peak, grads_at_peak)
            key = _step_key(optimizer_name, foreach, params)
            steps = _REUSED_STEPS.get()
            reused = steps.get(key) if steps is not None else None
            if reused is None:
                optimizer = make_optimizer(optimizer_name, params, foreach)
                reused = _measured_step(tracker, optimizer)
                if steps is not None:
                    steps[key] = reused
            else:
                extra = reused.apply(tracker)
            stepped = True
        else:
            notes.append("the output has no gradient (no trainable parameter reached it): forward only")
    tracker.settle()
    tracker.categories = None
    grad_keys, state_keys = tracker.peak_categories
    split = {"parameters": 0, "gradients": 0, "optimizer_state": 0, "activations": 0}
    for key, nbytes in tracker.peak_live.items():
        if key in param_keys:
            split["parameters"] += nbytes
        elif key in grad_keys:
            split["gradients"] += nbytes
        elif key in state_keys:
            split["optimizer_state"] += nbytes
        else:
            split["activations"] += nbytes
    for name, nbytes in extra.items():  # a reused step's own bytes at its peak
        split[name] += nbytes
    if stepped:
        impl = "multi-tensor (foreach)" if foreach else "one tensor at a time"
        notes.append(f"{optimizer_name} updates the parameters {impl}")
    report = MemoryReport(optimizer=optimizer_name, peak_bytes=tracker.peak, notes=notes, **split)
    if after_backward is not None and reused is not None:
        report.forward_peak_bytes = forward_peak
        report.forward_backward_peak_bytes, report.forward_backward_gradients = after_backward
        report.persistent_optimizer_state = reused.persistent
    _at_largest_sizes(report)
    return report


def _at_largest_sizes(report: MemoryReport) -> None:
    """Byte counts that depend on data-dependent sizes (a dry run through a boolean mask: ``8*u0 + 2160``)
    become their upper bounds, where the dry run also decided which moment is the peak."""
    symbols: set[str] = set()
    for name, value in report.__dict__.items():
        if isinstance(value, torch.SymInt):
            node = value.node
            upper = node.shape_env.bound_sympy(node.expr).upper
            if not (upper.is_number and upper.is_finite):
                raise ValueError(f"the training step's {name} ({value}) has no upper bound")
            symbols.update(str(s) for s in node.expr.free_symbols)
            setattr(report, name, int(upper))
    if symbols:
        report.notes.append(
            f"sizes the data decides ({', '.join(sorted(symbols))}) are taken at their largest (every "
            "element kept): the estimate is an upper bound"
        )


@dataclass(frozen=True)
class _OptimizerStep:
    """What an optimizer step adds to the storages live when it starts (it frees none of those)."""

    excess: int  # the most it adds at once: its peak less what was live at its start
    state_at_peak: int  # of which optimizer state
    persistent: int  # the state it leaves (0-d step counters aside)

    def apply(self, tracker: AllocationTracker) -> dict[str, int]:
        """The step's peak on top of what is live now, as if it ran; its own bytes at that peak."""
        tracker.settle()
        if tracker.current + self.excess <= tracker.peak:
            return {"optimizer_state": 0, "activations": 0}
        tracker.peak = tracker.current + self.excess
        tracker.peak_live = dict(tracker.live)
        tracker.peak_categories = tracker.categories() if tracker.categories is not None else (set(), set())
        return {"optimizer_state": self.state_at_peak, "activations": self.excess - self.state_at_peak}


def _measured_step(tracker: AllocationTracker, optimizer: torch.optim.Optimizer) -> _OptimizerStep:
    """Run the optimizer step, tracking its own peak beside the pass's (the larger is kept)."""
    tracker.settle()
    before = tracker.peak, tracker.peak_live, tracker.peak_categories
    start = tracker.peak = tracker.current
    with StandInScalars():
        optimizer.step()
    tracker.settle()
    excess = tracker.peak - start
    state_keys = tracker.peak_categories[1] if excess > 0 else set()
    state_at_peak = sum(n for k, n in tracker.peak_live.items() if k in state_keys)
    if tracker.peak <= before[0]:
        tracker.peak, tracker.peak_live, tracker.peak_categories = before
    persistent = sum(
        v.untyped_storage().nbytes()
        for values in optimizer.state.values()
        for v in values.values()
        if isinstance(v, torch.Tensor) and v.dim() > 0
    )
    return _OptimizerStep(excess, state_at_peak, persistent)


# Inside reused_optimizer_steps(): the steps measured so far, by optimizer and parameters.
_REUSED_STEPS: contextvars.ContextVar[dict[tuple, _OptimizerStep] | None] = contextvars.ContextVar(
    "summarytool_reused_optimizer_steps", default=None
)


@contextlib.contextmanager
def reused_optimizer_steps() -> Iterator[None]:
    """Estimates made inside run each distinct optimizer step once (the planner's probes).

    A step's allocations depend only on the optimizer and the parameters and gradients (shapes,
    dtypes, devices), not on the batch: it adds the same bytes to whatever is live when it starts,
    and frees none of those. So a later estimate of the same model skips it and adds the step's
    measured peak to what is live at its start, which is what running it gives.
    """
    token = _REUSED_STEPS.set({})
    try:
        yield
    finally:
        _REUSED_STEPS.reset(token)


def _step_key(name: str, foreach: bool | None, params: list[nn.Parameter]) -> tuple:
    grads = tuple(
        (
            tuple(p.shape),
            p.dtype,
            p.device.type,
            None if p.grad is None else (tuple(p.grad.shape), p.grad.dtype),
        )
        for p in params
    )
    return name, foreach, grads
