"""Dry runs: summarise a model on the meta device without allocating or touching its weights.

The model's module tree is copied with every parameter and buffer replaced by a meta tensor of
the same shape, dtype and requires_grad (no data is copied), and the summary runs on the copy.
A 70B-parameter model costs a few megabytes of Python objects this way.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from summarytool.analysis.params import is_lazy
from summarytool.inputs import move_to

META = torch.device("meta")


def needs_copy(model: nn.Module) -> bool:
    """True when some parameter or buffer holds real data (a meta model runs as it is)."""
    for t in (*model.parameters(), *model.buffers()):
        if t.device.type != "meta":
            return True
    return False


def meta_copy(model: nn.Module) -> nn.Module:
    """The model's structure with meta tensors in place of its parameters and buffers."""
    advice = (
        "Build the model on the meta device instead (`with torch.device('meta'): model = Model(...)`) "
        "and pass that to summary(..., device='meta')."
    )
    return _copy_with(model, lambda t: torch.empty_like(t, device=META), "a dry run", advice)


def device_copy(model: nn.Module, device: torch.device) -> nn.Module:
    """The model with its parameters and buffers copied to `device` (uninitialised where they are meta)."""

    def make(t: torch.Tensor) -> torch.Tensor:
        out = torch.empty_like(t, device=device)
        if t.device.type != "meta":
            with torch.no_grad():
                out.copy_(t)  # (a detach() would make a view of the caller's tensor)
        return out

    advice = (
        "A measured training step runs on a copy: make the module deep-copyable, or measure the forward "
        "pass alone (measure_memory=True without train_step runs on the model itself)."
    )
    return _copy_with(model, make, f"measuring memory on {device}", advice)


def _copy_with(model: nn.Module, make: Any, purpose: str, advice: str) -> nn.Module:
    """A deep copy whose parameters and buffers are `make(tensor)` (shared ones stay shared)."""
    memo: dict[int, Any] = {}
    for module in model.modules():
        for p in module._parameters.values():
            if p is None or id(p) in memo:
                continue
            if is_lazy(p):
                memo[id(p)] = copy.copy(p)
                continue
            memo[id(p)] = nn.Parameter(make(p), requires_grad=p.requires_grad)
        for b in module._buffers.values():
            if b is not None and id(b) not in memo:
                memo[id(b)] = make(b)
    try:
        return copy.deepcopy(model, memo)
    except torch.OutOfMemoryError:
        raise  # the device is full: not a module that cannot be copied
    except Exception as exc:  # a module holding something that cannot be copied
        raise RuntimeError(
            f"Cannot copy {type(model).__name__} for {purpose} ({type(exc).__name__}: {exc}). {advice}"
        ) from exc


def to_meta(x: Any) -> Any:
    """Inputs for a dry run: every tensor in a nested structure as a meta tensor of the same shape."""
    return move_to(x, META)


def symbolic_fake_mode() -> Any:
    """Fake tensors with a shape environment: data-dependent sizes become symbols (u0, u1, ...)."""
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.fx.experimental.symbolic_shapes import ShapeEnv

    return FakeTensorMode(shape_env=ShapeEnv(), allow_non_fake_inputs=True)


def is_concrete(shape: list[Any]) -> bool:
    """True when every size is a plain int (not a symbol from a data-dependent op or a jagged size)."""
    return all(type(v) is int for v in shape)
