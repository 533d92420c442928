"""Copies of TorchScript modules with stand-in tensors, for the training-step estimate.

`copy.deepcopy` of a ScriptModule copies every weight for real and ignores the memo that
`dry_run.meta_copy` relies on, and `.to("meta")` fails on one ("param must be a Parameter").
A shallow copy of each submodule, whose parameter, buffer and submodule slots are then replaced,
shares nothing with the caller's module and copies no tensor data: a scripted or traced 70B model
costs what its eager meta copy costs.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import nn


def scripted_copy(
    model: torch.jit.ScriptModule, make: Callable[[torch.Tensor], torch.Tensor]
) -> torch.jit.ScriptModule:
    """`model` with every parameter and buffer `make(tensor)` (tied ones stay tied)."""
    return _copy(model, make, {})


def _copy(
    module: torch.jit.ScriptModule,
    make: Callable[[torch.Tensor], torch.Tensor],
    memo: dict[int, torch.Tensor],
) -> torch.jit.ScriptModule:
    out = _shallow(module)
    for name, child in list(module.named_children()):
        setattr(out, name, _copy(child, make, memo))
    for name, p in list(module.named_parameters(recurse=False)):
        if id(p) not in memo:
            memo[id(p)] = nn.Parameter(make(p.detach()), requires_grad=p.requires_grad)
        setattr(out, name, memo[id(p)])
    for name, b in list(module.named_buffers(recurse=False)):
        if id(b) not in memo:
            memo[id(b)] = make(b)
        setattr(out, name, memo[id(b)])
    return out


def _shallow(module: torch.jit.ScriptModule) -> torch.jit.ScriptModule:
    # (Through the C++ object: copy.copy of a traced module's Python wrapper shares that object,
    # so writing the copy's slots would write the caller's module.)
    try:
        return torch.jit._recursive.wrap_cpp_module(copy.copy(module._c))
    except Exception as exc:  # a ScriptModule kind torch cannot copy
        raise RuntimeError(
            f"Cannot copy the TorchScript module {type(module).__name__} for a training-step estimate "
            f"({type(exc).__name__}: {exc}). Estimate the module before torch.jit.script()/trace()."
        ) from exc
