"""FLOP formulas per ATen op: torch's own registry, plus the ops it misses on some paths.

`torch.utils.flop_counter` knows mm/addmm/bmm/baddbmm, convolutions and the CUDA attention
kernels. The CPU flash-attention kernel, the fused transformer/multi-head-attention fast paths
(eval mode under no_grad) and the fused RNN kernels (mkldnn on CPU, cuDNN on GPU) are added
here, with the same convention: 2 FLOPs per multiply-add of the matrix products; element-wise
work (softmax, norms, activations, bias adds) is not counted.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch.utils.flop_counter import flop_registry

Formula = Callable[..., int]
aten = torch.ops.aten


def _shape(x: Any) -> list[int]:
    return list(x.shape)


def sdpa_flops(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> int:
    """Q @ K^T and P @ V for (batch..., heads, L, E) tensors; grouped K/V heads count as the Q heads."""
    *lead, length, e = _shape(q)
    s = k.shape[-2]
    ev = v.shape[-1]
    return 2 * math.prod(lead) * length * s * (e + ev)


def _sdpa_cpu(query, key, value, *args, out_val=None, **kwargs) -> int:
    return sdpa_flops(query, key, value)


def _seq_dims(x: torch.Tensor, batch_first: bool) -> tuple[int, int]:
    """(batch, length) of a (B, T, E) or (T, B, E) input; nested or 2-D inputs count as one sequence."""
    if getattr(x, "is_nested", False) or x.dim() < 3:
        rows = x.numel() // x.shape[-1] if x.dim() else 1
        return 1, rows
    return (x.shape[0], x.shape[1]) if batch_first else (x.shape[1], x.shape[0])


def _transformer_encoder_layer(src, embed_dim, num_heads, qkv_weight, qkv_bias, proj_weight, proj_bias,
                               *args, out_val=None, **kwargs) -> int:  # fmt: skip
    """torch's fused TransformerEncoderLayer (eval, no_grad, batch_first): in/out projections,
    attention and the two feed-forward matmuls."""
    ffn_1 = args[7] if len(args) > 7 else kwargs["ffn_weight_1"]
    batch, length = _seq_dims(src, True)
    tokens = batch * length
    e = int(embed_dim)
    macs = tokens * qkv_weight.shape[0] * qkv_weight.shape[1]  # fused Q, K, V projection
    macs += 2 * batch * length * length * e  # Q @ K^T and P @ V over all heads
    macs += tokens * proj_weight.shape[0] * proj_weight.shape[1]
    macs += 2 * tokens * ffn_1.shape[0] * ffn_1.shape[1]  # two linear layers of the same size
    return 2 * macs


def _native_mha(query, key, value, embed_dim, num_head, qkv_weight, qkv_bias, proj_weight, proj_bias,
                *args, out_val=None, **kwargs) -> int:  # fmt: skip
    """torch's fused MultiheadAttention fast path (batch_first, eval, no_grad)."""
    batch, lq = _seq_dims(query, True)
    _, lk = _seq_dims(key, True)
    e = int(embed_dim)
    macs = batch * lq * e * e + 2 * batch * lk * e * e  # Q, K, V projections
    macs += 2 * batch * lq * lk * e  # Q @ K^T and P @ V
    macs += batch * lq * proj_weight.shape[0] * proj_weight.shape[1]
    return 2 * macs


def _steps(x: torch.Tensor, batch_sizes: Any) -> int:
    """Time steps x batch rows an RNN layer processes (packed sequences: their real count)."""
    if batch_sizes is not None and hasattr(batch_sizes, "numel") and batch_sizes.numel() > 0:
        return x.shape[0]  # packed data: one row per valid (step, sequence)
    return x.numel() // x.shape[-1]


def _mkldnn_rnn_layer(input, weight0, weight1, weight2, weight3, hx_, cx_, reverse, batch_sizes,
                      *args, out_val=None, **kwargs) -> int:  # fmt: skip
    """One layer, one direction of a CPU LSTM: the gate matmuls over input and hidden state."""
    return 2 * _steps(input, batch_sizes) * (weight0.numel() + weight1.numel())


def _cudnn_rnn(input, weight, weight_stride0, weight_buf, hx, cx, mode, hidden_size, proj_size,
               num_layers, batch_first, dropout, train, bidirectional, batch_sizes,
               *args, out_val=None, **kwargs) -> int:  # fmt: skip
    """All layers and directions of a cuDNN RNN/LSTM/GRU: each layer's gate matmuls per step."""
    steps = _steps(input, batch_sizes) if not batch_sizes else int(sum(batch_sizes))
    stride = int(weight_stride0)
    macs = 0
    for i in range(0, len(weight), stride):
        macs += weight[i].numel() + weight[i + 1].numel()
    return 2 * steps * macs


def _extra() -> dict[Any, Formula]:
    table: dict[str, Formula] = {
        "_scaled_dot_product_flash_attention_for_cpu": _sdpa_cpu,
        "_scaled_dot_product_fused_attention_overrideable": _sdpa_cpu,
        "_scaled_dot_product_attention_math_for_mps": _sdpa_cpu,
        "_transformer_encoder_layer_fwd": _transformer_encoder_layer,
        "_native_multi_head_attention": _native_mha,
        "mkldnn_rnn_layer": _mkldnn_rnn_layer,
        "_cudnn_rnn": _cudnn_rnn,
    }
    out: dict[Any, Formula] = {}
    for name, fn in table.items():
        packet = getattr(aten, name, None)
        if packet is not None:
            out[packet] = fn
    return out


# torch's formulas wrap tensors into shapes; ours take tensors. Keep the two apart.
TORCH_FORMULAS: dict[Any, Formula] = dict(flop_registry)
EXTRA_FORMULAS: dict[Any, Formula] = {k: v for k, v in _extra().items() if k not in TORCH_FORMULAS}

# Ops that do matrix work: one of these without a formula makes a FLOP count incomplete.
_HEAVY_MARKERS = (
    "mm",
    "conv",
    "attention",
    "rnn",
    "lstm",
    "gru",
    "matmul",
    "einsum",
    "linear",
    "transformer",
)


def is_heavy(name: str) -> bool:
    base = name.split(".")[-1]
    return any(marker in base for marker in _HEAVY_MARKERS)


def op_flops(func: Any, args: tuple, kwargs: dict, out: Any) -> int | None:
    """FLOPs of one op call, or None when no formula covers it."""
    packet = func._overloadpacket
    formula = TORCH_FORMULAS.get(packet)
    if formula is not None:
        return int(formula(*args, **kwargs, out_val=out))
    formula = EXTRA_FORMULAS.get(packet)
    if formula is not None:
        return int(formula(*args, **kwargs, out_val=out))
    return None
