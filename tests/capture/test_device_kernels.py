"""Training-step estimates run dropout and attention as the training device's kernels do (on meta, no GPU needed)."""

from __future__ import annotations

import threading

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.functional import scaled_dot_product_attention as bound_sdpa

from summarytool import summary
from summarytool.zoo import reference_encoder

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


def encoder_without_dropout() -> nn.Module:
    layer = nn.TransformerEncoderLayer(256, 4, 1024, dropout=0.0, batch_first=True)
    return nn.Sequential(nn.TransformerEncoder(layer, 2, enable_nested_tensor=False), nn.Linear(256, 10))


def test_cpu_estimate_takes_the_cpu_flash_kernel_like_a_real_cpu_step() -> None:
    # Without dropout the CPU runs its flash kernel; meta alone would take the math path.
    torch.manual_seed(0)
    model, x = encoder_without_dropout().train(), torch.randn(4, 128, 256)
    stats = summary(
        model, input_data=x, train_step="adam", measure_memory=True, col_names=["flops"], verbose=0
    )
    assert any("_scaled_dot_product_flash_attention_for_cpu" in op for op in stats.flops_by_op)
    real = stats.measured_memory.train_step.peak_bytes
    assert abs(stats.memory.peak_bytes - real) <= 0.05 * real


def test_padding_masks_take_memory_efficient_attention_with_a_float_bias_on_cuda() -> None:
    mha = nn.MultiheadAttention(256, 4, dropout=0.1, batch_first=True).train()
    x = torch.randn(B, L, 256)
    pad = torch.zeros(B, L, dtype=torch.bool)
    pad[:, -3:] = True
    stats = {}
    for device in ("cpu", "cuda"):
        stats[device] = summary(
            mha, input_data=[x, x, x], key_padding_mask=pad, need_weights=False, device=device,
            train_step="adam", col_names=["flops"], verbose=0,
        )  # fmt: skip
    assert any("efficient_attention" in op for op in stats["cuda"].flops_by_op), stats["cuda"].flops_by_op
    assert stats["cuda"].memory.activations < stats["cpu"].memory.activations - 2 * B * H * L * L * 4


def test_the_backends_switched_off_by_the_user_are_not_picked() -> None:
    from torch.nn.attention import SDPBackend, sdpa_kernel

    model = reference_encoder().train()
    with sdpa_kernel(SDPBackend.MATH):
        stats = summary(model, (2, L, 256), device="cuda", train_step=True, col_names=["flops"], verbose=0)
    assert not any("attention" in op for op in stats.flops_by_op), stats.flops_by_op


def test_estimates_in_two_threads_do_not_see_each_others_device() -> None:
    model = reference_encoder().train()

    def saved(device: str) -> int:  # what the calls keep for the backward pass: attention decides it
        stats = summary(model, (2, L, 256), device=device, col_names=["activation_memory"], verbose=0)
        return stats.summary_list[0].activation_bytes

    expected = {"cpu": saved("cpu"), "cuda": saved("cuda")}
    assert expected["cpu"] != expected["cuda"]
    barrier = threading.Barrier(2)
    results: dict[str, list[int]] = {"cpu": [], "cuda": []}

    def work(device: str) -> None:
        barrier.wait()
        for _ in range(4):
            results[device].append(saved(device))

    threads = [threading.Thread(target=work, args=(d,)) for d in results]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {d: [expected[d]] * 4 for d in results}


def test_a_function_someone_else_replaced_stays_replaced() -> None:
    original = F.dropout

    def patched(*args: object, **kwargs: object) -> torch.Tensor:
        return original(*args, **kwargs)

    F.dropout = patched
    try:
        summary(
            nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5)), (2, 4), device="cuda", train_step=True, verbose=0
        )
        assert F.dropout is patched
    finally:
        F.dropout = original
