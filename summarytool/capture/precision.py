"""Training precision of the training-step estimate: fp32, pure bf16/fp16, or bf16/fp16 autocast.

Pure low precision keeps weights, gradients and optimizer state in that dtype (the copy is cast).
Mixed precision keeps fp32 weights ("master weights") and runs the forward pass under
``torch.autocast``, which casts the inputs of matrix products to the low dtype and caches the cast
weights for the backward pass. Autocast does not act on meta tensors, so a mixed estimate runs on
fake CPU tensors (no memory either) under the CPU's autocast rules. CUDA's rules differ for some
ops (the README lists them; tests/analysis/test_planner.py checks the list against the installed torch).
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch
from torch import nn

from summarytool.inputs import map_tensors

PRECISIONS = ("fp32", "bf16", "fp16", "bf16-mixed", "fp16-mixed")
_LOW = {"bf16": torch.bfloat16, "fp16": torch.float16}


def parse_precision(value: Any) -> str:
    if not isinstance(value, str) or value.lower() not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {value!r}.")
    return value.lower()


def low_dtype(precision: str) -> torch.dtype | None:
    """The low-precision dtype of `precision` (None for fp32)."""
    return _LOW.get(precision.removesuffix("-mixed"))


def is_mixed(precision: str) -> bool:
    return precision.endswith("-mixed")


def cast_floating(model: nn.Module, dtype: torch.dtype) -> None:
    """Pure low precision: the (copied) model's floating parameters and buffers in `dtype`."""
    model.to(dtype)


def cast_inputs(x: Any, dtype: torch.dtype) -> Any:
    """Floating inputs in `dtype` (token ids and masks keep theirs)."""
    return map_tensors(x, lambda t: t.to(dtype) if t.is_floating_point() else t)


def autocast(precision: str) -> Any:
    """The forward pass's autocast context for a mixed precision (a no-op otherwise), on CPU rules."""
    if not is_mixed(precision):
        return contextlib.nullcontext()
    return torch.autocast("cpu", dtype=low_dtype(precision))


def fake_world(precision: str) -> Any:
    """Where a mixed estimate runs: fake tensors, created on the CPU device (nothing allocated)."""
    if not is_mixed(precision):
        return contextlib.nullcontext()
    from summarytool.capture.dry_run import symbolic_fake_mode

    return symbolic_fake_mode()  # (with a shape environment: data-dependent sizes become symbols)
