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

META = torch.device("meta")


def needs_copy(model: nn.Module) -> bool:
    """True when some parameter or buffer holds real data (a meta model runs as it is)."""
    for t in (*model.parameters(), *model.buffers()):
        if t.device.type != "meta":
            return True
    return False


def meta_copy(model: nn.Module) -> nn.Module:
    """The model's structure with meta tensors in place of its parameters and buffers."""
    memo: dict[int, Any] = {}
    for module in model.modules():
        for p in module._parameters.values():
            if p is None or id(p) in memo:
                continue
            if is_lazy(p):
                memo[id(p)] = copy.copy(p)
                continue
            memo[id(p)] = nn.Parameter(torch.empty_like(p, device=META), requires_grad=p.requires_grad)
        for b in module._buffers.values():
            if b is not None and id(b) not in memo:
                memo[id(b)] = torch.empty_like(b, device=META)
    try:
        return copy.deepcopy(model, memo)
    except Exception as exc:  # a module holding something that cannot be copied
        raise RuntimeError(
            f"Cannot make a meta copy of {type(model).__name__} for a dry run ({type(exc).__name__}: {exc}). "
            "Build the model on the meta device instead (`with torch.device('meta'): model = Model(...)`) "
            "and pass that to summary(..., device='meta')."
        ) from exc


def to_meta(x: Any) -> Any:
    """Inputs for a dry run: every tensor in a nested structure as a meta tensor of the same shape."""
    if isinstance(x, torch.Tensor):
        return x.to(META)
    if isinstance(x, dict):
        return {k: to_meta(v) for k, v in x.items()}
    if isinstance(x, tuple) and hasattr(x, "_fields"):
        return type(x)(*(to_meta(v) for v in x))
    if isinstance(x, (list, tuple)):
        return type(x)(to_meta(v) for v in x)
    return x


def symbolic_fake_mode() -> Any:
    """Fake tensors with a shape environment: data-dependent sizes become symbols (u0, u1, ...)."""
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.fx.experimental.symbolic_shapes import ShapeEnv

    return FakeTensorMode(shape_env=ShapeEnv(), allow_non_fake_inputs=True)


def is_concrete(shape: list[Any]) -> bool:
    """True when every size is a plain int (not a symbol from a data-dependent op)."""
    return all(type(v) is int for v in shape)
