"""Dry runs: device="meta" summarises any model, of any size, without allocating or touching it."""

from __future__ import annotations

import pytest
import torch
from models import DigitNet, Tower
from torch import nn

from summarytool import SummaryError, summary
from summarytool.zoo import LlamaConfig, llama3_70b, llama_decoder, resnet50_like


def test_real_model_dry_run_matches_a_real_run_and_leaves_the_model_alone() -> None:
    model = DigitNet()
    pointers = {name: p.data_ptr() for name, p in model.named_parameters()}
    before = {name: p.clone() for name, p in model.state_dict().items()}
    real = summary(model, (2, 1, 16, 16), col_names=["output_size", "num_params", "flops"], verbose=0)
    dry = summary(
        model, (2, 1, 16, 16), device="meta", col_names=["output_size", "num_params", "flops"], verbose=0
    )
    assert str(dry).split("Input size")[0] == str(real).split("Input size")[0]
    assert dry.total_flops == real.total_flops
    assert all(p.device.type == "cpu" for p in model.parameters())
    assert {name: p.data_ptr() for name, p in model.named_parameters()} == pointers
    for name, value in model.state_dict().items():
        assert torch.equal(value, before[name])


def test_dry_run_with_input_data_moves_only_the_inputs() -> None:
    x = torch.randn(4, 3)
    stats = summary(Tower(), input_data=x, device="meta", verbose=0)
    assert stats.summary_list[0].output_size == [4, 6]
    assert x.device.type == "cpu"


def test_resnet50_like_at_batch_512_and_1024px_allocates_nothing() -> None:
    model = resnet50_like()
    stats = summary(model, (512, 3, 1024, 1024), device="meta", col_names=["output_size", "flops"], verbose=0)
    assert stats.total_params == 25_557_032
    assert stats.summary_list[-1].output_size == [512, 1000]
    # ResNet-50 is 4.1 G MACs (8.2 GFLOPs) per 224px image; convolutions grow with the pixel count.
    assert stats.total_flops > 512 * 2 * 4.0e9 * (1024 / 224) ** 2 * 0.95


def test_llama3_70b_shape_on_meta() -> None:
    with torch.device("meta"):
        model = llama3_70b()
    stats = summary(model, (1, 2048), dtypes=[torch.long], device="meta", depth=2, verbose=0)
    assert stats.total_params == 70_553_706_496
    cfg = LlamaConfig()
    tokens, d, kv = 2048, cfg.hidden_size, cfg.num_kv_heads * (cfg.hidden_size // cfg.num_heads)
    per_layer_linear = d * d * 2 + d * kv * 2 + 3 * d * cfg.intermediate_size
    attention = 2 * tokens * tokens * d  # Q @ K^T and P @ V over all 64 heads
    expected = 2 * (cfg.num_layers * (tokens * per_layer_linear + attention) + tokens * d * cfg.vocab_size)
    assert stats.total_flops == expected
    assert (
        stats.flops_by_op.get("aten.bmm", 0)
        + stats.flops_by_op.get("aten._scaled_dot_product_flash_attention_for_cpu", 0)
        == 2 * cfg.num_layers * attention
    )
    assert len(stats.summary_list) == 1 + 1 + 1 + cfg.num_layers * 12 + 2


def test_llama3_70b_training_step_estimate_on_meta() -> None:
    with torch.device("meta"):
        model = llama3_70b()
    stats = summary(model, (1, 2048), dtypes=[torch.long], train_step="adamw", depth=1, verbose=0)
    memory, weights = stats.memory, 70_553_706_496 * 4
    assert memory.parameters == weights and memory.gradients == weights  # at the peak every gradient exists
    # AdamW: two moments per parameter, plus a scalar step counter per parameter tensor.
    assert memory.optimizer_state == 2 * weights + 4 * len(list(model.parameters()))
    assert memory.peak_bytes == 2 * weights + memory.optimizer_state + memory.activations
    assert "foreach" in memory.notes[-1]  # planned for an accelerator: torch's GPU implementation
    assert all(p.grad is None and p.is_meta for p in model.parameters())


def test_small_llama_dry_run_equals_real_run() -> None:
    cfg = LlamaConfig(
        vocab_size=100, hidden_size=32, intermediate_size=64, num_layers=2, num_heads=4, num_kv_heads=2
    )
    model = llama_decoder(cfg)
    real = summary(
        model, (1, 16), dtypes=[torch.long], col_names=["output_size", "num_params", "flops"], verbose=0
    )
    dry = summary(
        model,
        (1, 16),
        dtypes=[torch.long],
        device="meta",
        col_names=["output_size", "num_params", "flops"],
        verbose=0,
    )
    assert dry.total_flops == real.total_flops
    assert [r.output_size for r in dry.summary_list] == [r.output_size for r in real.summary_list]


class Gain(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.g = nn.Parameter(torch.ones(()))

    def forward(self, v):
        return v * self.g


class DataDependent(nn.Module):
    """A boolean mask picks the values: the sizes after it depend on the data."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.gain = Gain()
        self.lift = nn.Linear(1, 3)

    def forward(self, x):
        h = self.fc(x)
        picked = self.gain(h[h > 0])
        return self.lift(picked.unsqueeze(-1)).sum() + h.sum()


def test_data_dependent_shapes_fall_back_to_fake_tensors_with_symbolic_sizes() -> None:
    stats = summary(
        DataDependent(), (2, 4), device="meta", col_names=["output_size", "num_params", "flops"], verbose=0
    )
    root, fc, gain, lift = stats.summary_list
    assert fc.output_size == [2, 4] and fc.flops == 2 * 2 * 4 * 4
    assert str(gain.output_size) == "[u0]" and str(lift.output_size) == "[u0, 3]"  # decided by the data
    assert stats.total_params == 20 + 1 + 6
    assert stats.flops_uncounted == {"aten.addmm (data-dependent shape)": 1}
    text = str(stats)
    assert "[u0, 3]" in text and "FLOPs incomplete: 1 calls of aten.addmm (data-dependent shape)" in text


class Branchy(nn.Module):
    """Python control flow on a tensor's value: no dry run can decide it."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        y = self.fc(x)
        return y * 2 if y.sum().item() > 0 else y


def test_control_flow_on_values_is_a_clear_error() -> None:
    with pytest.raises(SummaryError) as info:
        summary(Branchy(), (2, 4), device="meta", verbose=0)
    message = str(info.value)
    assert "Branchy" in message
    assert "needs real tensor values" in message and "device='cpu'" in message


def test_fake_fallback_prints_no_failure_report(capsys: pytest.CaptureFixture[str]) -> None:
    summary(DataDependent(), (2, 4), device="meta", verbose=1)
    out, err = capsys.readouterr()
    assert "[u0]" in out and "failed" not in err


class Shifted(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 2)

    def forward(self, x, shift=None):
        return self.fc(x) + shift


def test_dry_run_with_input_data_moves_tensor_kwargs_too() -> None:
    shift = torch.zeros(2)
    stats = summary(Shifted(), input_data=torch.randn(4, 3), device="meta", shift=shift, verbose=0)
    assert stats.summary_list[0].output_size == [4, 2]
    assert shift.device.type == "cpu"
