"""Training-step estimates for CUDA run dropout and attention as CUDA's fused kernels do (on meta, no GPU needed)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from models import reference_encoder
from torch import nn
from torch.nn.functional import scaled_dot_product_attention as bound_sdpa

from summarytool import summary

B, H, L, D = 8, 4, 128, 64


def test_dropout_keeps_a_bool_mask_on_cuda_and_a_float_mask_on_cpu() -> None:
    model = nn.Sequential(nn.Linear(256, 512), nn.ReLU(), nn.Dropout(0.1), nn.Linear(512, 10))
    rows = {}
    for device in ("cpu", "cuda"):
        stats = summary(
            model, (64, 256), device=device, train_step="sgd", col_names=["activation_memory"], verbose=0
        )
        rows[device] = stats.summary_list[3].activation_bytes
    assert rows == {"cpu": 64 * 512 * 4, "cuda": 64 * 512}


def test_attention_inside_torchs_multihead_attention_keeps_no_score_matrix_on_cuda() -> None:
    model = reference_encoder().train()
    mha = {}
    for device in ("cpu", "cuda"):
        stats = summary(
            model, (B, L, 256), device=device, train_step="adam", col_names=["flops"], verbose=0, depth=4
        )
        row = next(r for r in stats.summary_list if r.class_name == "MultiheadAttention")
        mha[device] = (row.activation_bytes, stats.total_flops)
    scores = B * H * L * L * 4  # one [B, H, L, L] float matrix
    # CPU (and meta) keep the softmax output, its dropout mask and the dropped-out scores; CUDA keeps none.
    assert mha["cpu"][0] - mha["cuda"][0] >= 3 * scores
    assert mha["cpu"][1] == mha["cuda"][1]  # the same FLOPs either way


class Attention(nn.Module):
    """Calls attention through a name bound at import, as many model files do."""

    def __init__(self, dtype: torch.dtype) -> None:
        super().__init__()
        self.qkv = nn.Linear(H * D, 3 * H * D, dtype=dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(x).view(x.size(0), L, 3, H, D).permute(2, 0, 3, 1, 4)
        return bound_sdpa(q, k, v, dropout_p=0.1, is_causal=True)


@pytest.mark.filterwarnings("ignore:Half precision is not supported")
@pytest.mark.parametrize(
    ("dtype", "kernel"),
    [
        (torch.float32, "_scaled_dot_product_efficient_attention"),
        (torch.bfloat16, "_scaled_dot_product_flash_attention"),
    ],
)
def test_model_code_calling_attention_gets_the_kernel_cuda_would_pick(dtype, kernel) -> None:
    stats = summary(
        Attention(dtype),
        (B, L, H * D),
        dtypes=[dtype],
        device="cuda",
        train_step="adam",
        col_names=["flops"],
        verbose=0,
    )
    assert any(kernel in op for op in stats.flops_by_op), stats.flops_by_op
    on_cpu = summary(
        Attention(dtype), (B, L, H * D), dtypes=[dtype], device="cpu", train_step="adam", verbose=0
    )
    assert stats.memory.activations < on_cpu.memory.activations - B * H * L * L * dtype.itemsize


def test_torchs_functions_are_given_back_even_when_the_model_fails() -> None:
    class Broken(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            F.dropout(x, 0.5)
            raise ValueError("broken on purpose")

    dropout, sdpa = F.dropout, F.scaled_dot_product_attention
    with pytest.raises(RuntimeError, match="broken on purpose"):
        summary(Broken(), (2, 4), device="cuda", train_step=True, verbose=0)
    assert F.dropout is dropout and F.scaled_dot_product_attention is sdpa
