"""CUDA's autocast rules for a mixed-precision estimate made on fake CPU tensors (issue 17).

Reality for CUDA here is torch's own CUDA autocast, run op by op on fake CUDA tensors (that works
without a GPU while nothing needs a gradient; a training step on fake CUDA tensors aborts a CPU
build of torch in autograd's device guard, which is why the estimate emulates CUDA's rules).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import nn
from torch._subclasses.fake_tensor import FakeTensorMode

from summarytool import summary
from summarytool.capture import precision
from summarytool.capture.precision import CUDA_NOT_EMULATED, CUDA_POLICIES, rules_for

F = nn.functional
BF16 = torch.bfloat16

# (op, a call on a [4, 8] input). The first lot differ between CUDA and the CPU on torch 2.13;
# the last ones agree (matrix products, the losses).
OPS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "softmax": lambda x: x.softmax(-1),
    "log_softmax": lambda x: x.log_softmax(-1),
    "softmin": lambda x: F.softmin(x, -1),
    "softplus": lambda x: F.softplus(x),
    "layer_norm": lambda x: F.layer_norm(x, (8,)),
    "group_norm": lambda x: F.group_norm(x.view(4, 2, 4), 2),
    "rms_norm": lambda x: F.rms_norm(x, (8,)),
    "pow": lambda x: x.pow(2),
    "square via **": lambda x: x**2,
    "rsqrt": lambda x: x.rsqrt(),
    "reciprocal": lambda x: 1 / x,
    "exp": lambda x: x.exp(),
    "log1p": lambda x: x.log1p(),
    "tan": lambda x: x.tan(),
    "sum": lambda x: x.sum(),
    "sum dim": lambda x: x.sum(-1),
    "cumsum": lambda x: x.cumsum(0),
    "cumprod": lambda x: x.cumprod(0),
    "prod": lambda x: x.prod(),
    "norm": lambda x: x.norm(),
    "norm dim": lambda x: x.norm(dim=-1),
    "vector_norm": lambda x: torch.linalg.vector_norm(x, dim=-1),
    "normalize": lambda x: F.normalize(x, dim=-1),
    "cosine_similarity": lambda x: F.cosine_similarity(x, x),
    "logsumexp": lambda x: x.logsumexp(-1),
    "dist": lambda x: torch.dist(x, x),
    "renorm": lambda x: x.renorm(2, 0, 1.0),
    "bilinear upsampling": lambda x: F.interpolate(x.view(1, 1, 4, 8), scale_factor=2, mode="bilinear"),
    "nearest upsampling": lambda x: F.interpolate(x.view(1, 1, 4, 8), scale_factor=2),
    "addcmul": lambda x: torch.addcmul(x, x, x.float()),
    "avg_pool3d": lambda x: F.avg_pool3d(x.view(1, 1, 2, 2, 8), 1),
    "max_pool3d": lambda x: F.max_pool3d(x.view(1, 1, 2, 2, 8), 1),
    "adaptive_avg_pool3d": lambda x: F.adaptive_avg_pool3d(x.view(1, 1, 2, 2, 8), 1),
    "reflection pad": lambda x: F.pad(x.view(1, 4, 8), (1, 1), mode="reflect"),
    "replication pad": lambda x: F.pad(x.view(1, 4, 8), (1, 1), mode="replicate"),
    "cat": lambda x: torch.cat([x, x.float()]),
    "mm": lambda x: x @ x.T,
    "gelu": lambda x: F.gelu(x),
    "mse_loss": lambda x: F.mse_loss(x, x),
}


def on_fake_cuda(call: Callable[[torch.Tensor], torch.Tensor]) -> torch.dtype:
    """The dtype CUDA's own autocast gives (bf16), on a fake CUDA tensor."""
    with FakeTensorMode(allow_non_fake_inputs=True):
        x = torch.empty(4, 8, dtype=BF16, device="cuda")
        before = torch.is_autocast_enabled("cuda"), torch.get_autocast_dtype("cuda")
        torch.set_autocast_enabled("cuda", True)  # (torch.autocast("cuda") switches itself off without CUDA)
        torch.set_autocast_dtype("cuda", BF16)
        try:
            return call(x).dtype
        finally:
            torch.set_autocast_enabled("cuda", before[0])
            torch.set_autocast_dtype("cuda", before[1])


def on_cpu(call: Callable[[torch.Tensor], torch.Tensor], rules: str) -> torch.dtype:
    with rules_for(rules), FakeTensorMode(), torch.autocast("cpu", dtype=BF16):
        return call(torch.empty(4, 8, dtype=BF16)).dtype


@pytest.mark.parametrize("op", sorted(OPS))
def test_cudas_rules_on_cpu_tensors_give_the_dtype_cuda_gives(op: str) -> None:
    assert on_cpu(OPS[op], "cuda") == on_fake_cuda(OPS[op])


def test_the_ops_do_differ_between_the_two_devices() -> None:
    """(Else the test above could not fail.)"""
    differ = {op for op, call in OPS.items() if on_cpu(call, "cpu") != on_fake_cuda(call)}
    assert {"softmax", "layer_norm", "pow", "sum", "avg_pool3d", "reflection pad"} <= differ
    assert not differ & {"mm", "gelu", "mse_loss"}


def test_every_op_cudas_autocast_lists_has_its_policy_here() -> None:
    """A torch that adds an op to CUDA's lists fails here until CUDA_POLICIES has it. (torch's own ops:
    a CUDA build of torchvision registers its RoI ops too, which torchvision casts itself.)"""
    registered = {
        name
        for name in torch._C._dispatch_get_registrations_for_dispatch_key("AutocastCUDA")
        if name.startswith("aten::")
    }
    assert registered - CUDA_NOT_EMULATED - {"aten::binary_cross_entropy"} <= set(CUDA_POLICIES)


def test_the_rules_leave_torch_as_it_was_and_other_threads_keep_the_cpus() -> None:
    x = torch.rand(4, 8, dtype=BF16) + 0.5
    seen: dict[str, Any] = {}

    def other_thread() -> None:
        with torch.autocast("cpu", dtype=BF16):
            real = torch.rand(4, 8) + 0.5
            seen["softmax"] = x.softmax(-1).dtype
            seen["avg_pool3d"] = F.avg_pool3d(x.view(1, 1, 2, 2, 8), 1).dtype
            seen["conv pad"] = F.conv1d(
                real.view(1, 4, 8), real.flatten()[:24].view(2, 4, 3), padding="same"
            ).dtype

    with rules_for("cuda"):
        assert on_cpu(OPS["softmax"], "cuda") == torch.float32  # (nested: the rules stay)
        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join()
    assert seen == {"softmax": BF16, "avg_pool3d": torch.float32, "conv pad": BF16}  # the CPU's rules
    assert precision._INSTALLED == []
    with torch.autocast("cpu", dtype=BF16):
        assert x.softmax(-1).dtype == BF16  # the CPU's kernels again
        assert F.avg_pool3d(x.view(1, 1, 2, 2, 8), 1).dtype == torch.float32


class ScoresAttention(nn.Module):
    """A hand-written attention: on CUDA the softmax over bf16 scores runs (and is kept) in fp32."""

    def __init__(self, width: int = 64) -> None:
        super().__init__()
        self.qkv = nn.Linear(width, 3 * width)
        self.softmax = nn.Softmax(-1)
        self.norm = nn.LayerNorm(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(x).chunk(3, -1)
        return self.norm(self.softmax(q @ k.transpose(-1, -2)) @ v)


def _rows(device: str, batch: int = 4, seq: int = 32) -> dict[str, Any]:
    stats = summary(
        ScoresAttention(),
        (batch, seq, 64),
        train_step="adamw",
        precision="bf16-mixed",
        device=device,
        verbose=0,
        col_names=["output_size", "activation_memory"],
    )
    return {"memory": stats.memory, **{row.class_name: row for row in stats.summary_list}}


def test_a_gpu_estimate_keeps_what_cuda_keeps() -> None:
    cpu, cuda = _rows("cpu"), _rows("cuda")
    assert precision._INSTALLED == []  # (put down when the estimate ends)
    scores = 4 * 32 * 32
    # The Softmax row keeps its output for the backward pass: in the dtype each device gives.
    assert cpu["Softmax"].activation_bytes == scores * 2
    assert cuda["Softmax"].activation_bytes == scores * on_fake_cuda(OPS["softmax"]).itemsize
    assert cuda["Softmax"].activation_bytes == scores * 4
    # LayerNorm after a bf16 product: CUDA casts its input to fp32 (and keeps that copy).
    tokens = 4 * 32 * 64
    assert cpu["LayerNorm"].activation_bytes < cuda["LayerNorm"].activation_bytes
    assert cuda["LayerNorm"].activation_bytes >= tokens * 4
    assert cpu["memory"].autocast_rules == "cpu" and cuda["memory"].autocast_rules == "cuda"
    assert any("CUDA's" in note for note in cuda["memory"].notes)


def test_a_gpu_estimate_touches_no_cuda_device(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the estimate initialised CUDA")

    monkeypatch.setattr(torch.cuda, "_lazy_init", refuse)
    monkeypatch.setattr(torch.cuda, "init", refuse)
    _rows("cuda")
    assert not torch.cuda.is_initialized()


def test_checkpointed_blocks_recompute_under_the_same_rules() -> None:
    """A checkpointed block is recomputed in the backward pass: autocast again, with CUDA's rules
    (else torch refuses the recomputation: its tensors would differ from the forward's)."""
    from torch.utils.checkpoint import checkpoint

    class Checkpointed(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.blocks = nn.ModuleList(ScoresAttention() for _ in range(2))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            for block in self.blocks:
                x = checkpoint(block, x, use_reentrant=False)
            return x

    plain = summary(
        ScoresAttention(), (4, 32, 64), train_step="adamw", precision="bf16-mixed", device="cuda", verbose=0
    )
    stats = summary(
        Checkpointed(), (4, 32, 64), train_step="adamw", precision="bf16-mixed", device="cuda", verbose=0
    )
    assert stats.memory.autocast_rules == "cuda" and stats.memory.peak_bytes > plain.memory.peak_bytes


def test_pure_precisions_and_fp32_have_no_autocast_rules() -> None:
    for name in ("fp32", "bf16"):
        stats = summary(
            ScoresAttention(), (2, 8, 64), train_step="adamw", precision=name, device="cuda", verbose=0
        )
        assert stats.memory.autocast_rules is None
