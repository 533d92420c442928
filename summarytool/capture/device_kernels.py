"""The kernels the training device would run, for a training-step estimate made on meta tensors.

Meta tensors take composite paths of their own: dropout keeps a float mask, and attention
materialises the [L, S] score matrix (and, with dropout, its mask) for the backward pass. The
devices run fused kernels instead: on CUDA, dropout is one kernel that keeps a bool mask, and
attention runs flash attention (half precision) or memory-efficient attention, which keep only
their output and a logsumexp; on the CPU, attention without dropout runs the CPU flash kernel.
During an estimate this sends those calls to the kernels the training device would pick (their
meta versions), so the estimate tracks the tensors that device would hold. A call no rule
places runs as it is.

A TorchFunctionMode sees the calls a model makes itself, under any name. torch's own Python
functionals (``F.multi_head_attention_forward``) call attention from inside a call the mode has
already handled, where modes are switched off, so ``F.dropout`` and
``F.scaled_dot_product_attention`` are also replaced by wrappers while any estimate runs; the
wrappers act only in a thread that is estimating, and only on meta tensors.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import _disable_current_modes

_HALF = (torch.float16, torch.bfloat16)
_DROPOUT = F.dropout  # the functions as torch defines them: what the mode is handed
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


MATH, FLASH, EFFICIENT, CUDNN = 0, 1, 2, 3  # torch.nn.attention.SDPBackend's values


def _attention_inputs(b: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
    q, k, v = b["query"], b["key"], b["value"]
    if not all(isinstance(t, torch.Tensor) and t.is_meta and t.dim() == 4 for t in (q, k, v)):
        return None
    mask = b["attn_mask"]
    if mask is not None and not (isinstance(mask, torch.Tensor) and mask.is_meta):
        return None
    return q, k, v


_choices: dict[tuple[Any, ...], int] = {}


def _torch_choice(
    b: dict[str, Any], q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, device: str
) -> int | None:
    """torch's own pick of attention kernel for these inputs on `device` (None where it cannot be asked).

    Asked with tiny stand-ins: the same dtypes, head counts and head sizes, masks of the same rank and
    dtype, sequences of 1-3 that keep whether the query and key lengths are equal.
    """
    if device == "cuda" and not torch.cuda.is_available():
        return None
    mask = b["attn_mask"]
    lq = min(q.size(2), 2)
    lk = lq if k.size(2) == q.size(2) else (lq + 1 if k.size(2) > q.size(2) else max(1, lq - 1))
    key = (
        device, q.dtype, q.size(1), k.size(1), q.size(-1), v.size(-1), lq, lk,
        tuple(t.requires_grad for t in (q, k, v)), None if mask is None else (mask.dtype, mask.dim()),
        float(b["dropout_p"]) > 0, bool(b["is_causal"]), bool(b["enable_gqa"]),
        torch.backends.cuda.flash_sdp_enabled(), torch.backends.cuda.mem_efficient_sdp_enabled(),
        torch.backends.cuda.math_sdp_enabled(), getattr(torch.backends.cuda, "cudnn_sdp_enabled", bool)(),
    )  # fmt: skip
    if key not in _choices:
        with _disable_current_modes():

            def tiny(t: torch.Tensor, length: int) -> torch.Tensor:
                shape = (1, t.size(1), length, t.size(-1))
                return torch.zeros(shape, dtype=t.dtype, device=device, requires_grad=t.requires_grad)

            small_mask = None
            if mask is not None:
                dims = [1] * mask.dim()
                if mask.dim() >= 1 and mask.size(-1) > 1:
                    dims[-1] = lk
                if mask.dim() >= 2 and mask.size(-2) > 1:
                    dims[-2] = lq
                small_mask = torch.zeros(dims, dtype=mask.dtype, device=device)
            _choices[key] = int(
                torch.ops.aten._fused_sdp_choice(
                    tiny(q, lq), tiny(k, lk), tiny(v, lk), small_mask, float(b["dropout_p"]), bool(b["is_causal"]),
                    scale=b["scale"], enable_gqa=bool(b["enable_gqa"]),
                )
            )  # fmt: skip
    return _choices[key]


def _cpu_attention(b: dict[str, Any]) -> torch.Tensor | None:
    """The CPU flash kernel wherever torch takes it (no dropout, and what else this torch version needs)."""
    qkv = _attention_inputs(b)
    mask = b["attn_mask"]
    if mask is not None and mask.requires_grad and torch.is_grad_enabled():
        return None  # a learned bias (T5, Swin): the CPU flash kernel has no gradient for it
    if qkv is None or _torch_choice(b, *qkv, "cpu") != FLASH:
        return None
    q, k, v = qkv
    return torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(
        q, k, v, float(b["dropout_p"]), bool(b["is_causal"]), attn_mask=b["attn_mask"], scale=b["scale"]
    )[0]


def _flash_capable() -> bool:
    """Flash attention needs sm80 or newer; without a GPU here, assume a current one."""
    if torch.cuda.is_available():
        return torch.cuda.get_device_capability() >= (8, 0)
    return True


def _cuda_rules(b: dict[str, Any], q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> int:
    """Without a GPU to ask: flash where CUDA takes it, else memory-efficient attention, else math."""
    mask, causal = b["attn_mask"], bool(b["is_causal"])
    head, grouped = q.size(-1), q.size(1) != k.size(1)
    if grouped and not (b["enable_gqa"] and k.size(1) == v.size(1) and q.size(1) % k.size(1) == 0):
        return MATH  # torch refuses these shapes; let it say so
    if (
        torch.backends.cuda.flash_sdp_enabled()
        and _flash_capable()
        and q.dtype in _HALF
        and mask is None
        and head <= 256
        and head == k.size(-1) == v.size(-1)
        and not (causal and q.size(2) != k.size(2))
    ):
        return FLASH
    align = 4 if q.dtype == torch.float32 else 8
    if (
        torch.backends.cuda.mem_efficient_sdp_enabled()
        and not grouped
        and q.dtype in (torch.float32, *_HALF)
        and head == k.size(-1)
        and head % align == 0
        and v.size(-1) % align == 0
    ):
        return EFFICIENT
    return MATH


def _cuda_attention(b: dict[str, Any]) -> torch.Tensor | None:
    """The kernel CUDA picks: asked of torch where a GPU is here, else by `_cuda_rules`."""
    qkv = _attention_inputs(b)
    if qkv is None:
        return None
    q, k, v = qkv
    choice = _torch_choice(b, q, k, v, "cuda")
    if choice is None:
        choice = _cuda_rules(b, q, k, v)
    p, causal, scale = float(b["dropout_p"]), bool(b["is_causal"]), b["scale"]
    keep_lse = torch.is_grad_enabled() and any(t.requires_grad for t in (q, k, v))
    mask = b["attn_mask"]
    if choice == FLASH:
        return torch.ops.aten._scaled_dot_product_flash_attention(q, k, v, p, causal, False, scale=scale)[0]
    if choice == EFFICIENT:
        bias = None if mask is None else _attention_bias(mask, q, k)
        return torch.ops.aten._scaled_dot_product_efficient_attention(
            q, k, v, bias, keep_lse, p, causal, scale=scale
        )[0]
    if choice == CUDNN:
        bias = None if mask is None else _attention_bias(mask, q, k, pad=False)
        return torch.ops.aten._scaled_dot_product_cudnn_attention(
            q, k, v, bias, keep_lse, p, causal, False, scale=scale
        )[0]
    return None


def _attention_bias(mask: torch.Tensor, q: torch.Tensor, k: torch.Tensor, pad: bool = True) -> torch.Tensor:
    """A mask as the fused kernels take it: float (a bool mask becomes a new tensor), for memory-efficient
    attention its last dimension padded to a multiple of 16, expanded to [batch, heads, L, S]."""
    if mask.dtype == torch.bool:
        bias = torch.zeros(mask.shape, dtype=q.dtype, device=mask.device).masked_fill_(
            mask.logical_not(), float("-inf")
        )
    else:
        bias = mask
    keys = k.size(-2)
    extra = (-keys) % 16 if pad else 0
    if extra:
        bias = F.pad(bias, (0, extra))[..., :keys]
    return bias.expand(q.size(0), q.size(1), q.size(2), keys)


class _Rules(TorchFunctionMode):
    """Routes dropout and attention calls by the training device's rules (meta tensors only)."""

    def __init__(self, cuda: bool) -> None:
        super().__init__()
        self.cuda = cuda

    def choose(self, func: Any, args: tuple, kwargs: dict[str, Any]) -> torch.Tensor | None:
        if func is _SDPA:
            b = _bind(_SDPA_ARGS, _SDPA_DEFAULTS, args, kwargs)
            return _cuda_attention(b) if self.cuda else _cpu_attention(b)
        if not self.cuda:  # the CPU's dropout is what meta runs
            return None
        if func is _DROPOUT:
            b = _bind(_DROPOUT_ARGS, _DROPOUT_DEFAULTS, args, kwargs)
            return _dropout(b["input"], b["p"], b["training"], b["inplace"])
        if func is torch.dropout:
            b = _bind(("input", "p", "train"), {}, args, kwargs)
            return _dropout(b["input"], b["p"], b["train"], False)
        return None

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        out = self.choose(func, args, kwargs)
        return func(*args, **kwargs) if out is None else out


# ----- the wrappers for calls made inside torch's own functionals ------------------------------

_local = threading.local()  # .rules: the rules of the estimate running in this thread, if any
_lock = threading.Lock()
_users = 0
_saved: tuple[Any, Any] = (_DROPOUT, _SDPA)


def _dropout_wrapper(*args: Any, **kwargs: Any) -> Any:
    rules = getattr(_local, "rules", None)
    out = None if rules is None else rules.choose(_DROPOUT, args, kwargs)
    return _saved[0](*args, **kwargs) if out is None else out


def _sdpa_wrapper(*args: Any, **kwargs: Any) -> Any:
    rules = getattr(_local, "rules", None)
    out = None if rules is None else rules.choose(_SDPA, args, kwargs)
    return _saved[1](*args, **kwargs) if out is None else out


@contextmanager
def _wrappers_installed(rules: _Rules) -> Iterator[None]:
    global _users, _saved
    with _lock:
        if _users == 0:
            _saved = (F.dropout, F.scaled_dot_product_attention)  # as found: other patches are kept
            F.dropout, F.scaled_dot_product_attention = _dropout_wrapper, _sdpa_wrapper
        _users += 1
    previous = getattr(_local, "rules", None)
    _local.rules = rules
    try:
        yield
    finally:
        _local.rules = previous
        with _lock:
            _users -= 1
            if _users == 0:
                F.dropout, F.scaled_dot_product_attention = _saved


@contextmanager
def kernel_choices(train_on: torch.device) -> Iterator[None]:
    """Dropout and attention as `train_on` runs them (CUDA rules also for meta: planned for an accelerator)."""
    if train_on.type not in ("cuda", "meta", "cpu"):
        yield
        return
    rules = _Rules(cuda=train_on.type != "cpu")
    with _wrappers_installed(rules), rules:
        yield
