"""The kernels CUDA would run, for a training-step estimate made on meta tensors.

Meta tensors take the CPU's composite paths: dropout keeps a float mask, and attention with
dropout materialises the [L, S] score matrix and its mask for the backward pass. On CUDA,
dropout is one fused kernel that keeps a bool mask, and attention runs a fused kernel (flash
for half precision, memory-efficient otherwise) that keeps only its output and a logsumexp.
When the model trains on CUDA, this mode sends those calls to the kernels CUDA would pick (their
meta versions), so the estimate tracks the tensors a GPU would hold. Calls it cannot place
(attention with an explicit mask or grouped heads, unusual head sizes) run as they are.

A TorchFunctionMode sees the calls a model makes itself, under any name; torch's own Python
functionals (``F.multi_head_attention_forward``) call attention from inside a call the mode has
already handled, where it is switched off, so for the estimate's duration ``F.dropout`` and
``F.scaled_dot_product_attention`` are also replaced by wrappers. Both act on meta tensors only.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

_HALF = (torch.float16, torch.bfloat16)
_DROPOUT = F.dropout
_SDPA = F.scaled_dot_product_attention
_DROPOUT_ARGS = ("input", "p", "training", "inplace")
_DROPOUT_DEFAULTS = {"p": 0.5, "training": True, "inplace": False}
_SDPA_ARGS = ("query", "key", "value", "attn_mask", "dropout_p", "is_causal", "scale", "enable_gqa")
_SDPA_DEFAULTS = {"attn_mask": None, "dropout_p": 0.0, "is_causal": False, "scale": None, "enable_gqa": False}


def _bind(
    names: tuple[str, ...], defaults: dict[str, Any], args: tuple, kwargs: dict[str, Any]
) -> dict[str, Any]:
    bound = dict(defaults)
    bound.update(zip(names, args, strict=False))
    bound.update(kwargs)
    return bound


def _dropout(x: Any, p: float, training: bool, inplace: bool) -> torch.Tensor | None:
    """CUDA's fused dropout (a bool mask), under the condition torch checks before taking it."""
    if not (
        isinstance(x, torch.Tensor) and x.is_meta and training and 0 < p < 1 and not inplace and x.numel()
    ):
        return None
    return torch.native_dropout(x, p, True)[0]


def _attention(b: dict[str, Any]) -> torch.Tensor | None:
    """The fused attention kernel CUDA would pick (flash for half precision, else memory-efficient)."""
    q, k, v = b["query"], b["key"], b["value"]
    tensors = (q, k, v)
    if not all(isinstance(t, torch.Tensor) and t.is_meta and t.dim() == 4 for t in tensors):
        return None
    if b["attn_mask"] is not None or q.dtype != k.dtype or q.dtype != v.dtype:
        return None
    if q.size(1) != k.size(1) or k.size(1) != v.size(1) or q.size(-1) != v.size(-1):
        return None  # grouped-query heads: the fused kernels need as many key/value heads as query heads
    head = q.size(-1)
    p, causal, scale = float(b["dropout_p"]), bool(b["is_causal"]), b["scale"]
    if q.dtype in _HALF and head <= 256 and head % 8 == 0:
        return torch.ops.aten._scaled_dot_product_flash_attention(q, k, v, p, causal, False, scale=scale)[0]
    if q.dtype in (torch.float32, *_HALF) and head % (4 if q.dtype == torch.float32 else 8) == 0:
        keep_lse = torch.is_grad_enabled() and any(t.requires_grad for t in tensors)
        return torch.ops.aten._scaled_dot_product_efficient_attention(
            q, k, v, None, keep_lse, p, causal, scale=scale
        )[0]
    return None


def _dropout_wrapper(*args: Any, **kwargs: Any) -> Any:
    b = _bind(_DROPOUT_ARGS, _DROPOUT_DEFAULTS, args, kwargs)
    out = _dropout(b["input"], b["p"], b["training"], b["inplace"])
    return _DROPOUT(*args, **kwargs) if out is None else out


def _sdpa_wrapper(*args: Any, **kwargs: Any) -> Any:
    out = _attention(_bind(_SDPA_ARGS, _SDPA_DEFAULTS, args, kwargs))
    return _SDPA(*args, **kwargs) if out is None else out


class CudaKernelChoices(TorchFunctionMode):
    """Dropout and scaled-dot-product attention as CUDA runs them, on meta tensors."""

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        out = None
        if func is _DROPOUT:
            b = _bind(_DROPOUT_ARGS, _DROPOUT_DEFAULTS, args, kwargs)
            out = _dropout(b["input"], b["p"], b["training"], b["inplace"])
        elif func is torch.dropout:
            b = _bind(("input", "p", "train"), {}, args, kwargs)
            out = _dropout(b["input"], b["p"], b["train"], False)
        elif func is _SDPA:
            out = _attention(_bind(_SDPA_ARGS, _SDPA_DEFAULTS, args, kwargs))
        return func(*args, **kwargs) if out is None else out


@contextmanager
def cuda_kernel_choices() -> Iterator[None]:
    """Dropout and attention as on CUDA, for calls made by the model and by torch's functionals."""
    F.dropout, F.scaled_dot_product_attention = _dropout_wrapper, _sdpa_wrapper
    try:
        with CudaKernelChoices():
            yield
    finally:
        F.dropout, F.scaled_dot_product_attention = _DROPOUT, _SDPA


def emulates_cuda(device: torch.device) -> bool:
    """Estimates for CUDA (and for a model on meta with no device: planned for an accelerator)."""
    return device.type in ("cuda", "meta")
