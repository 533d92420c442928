"""FLOPs counted at the ATen-op level, attributed to module calls (children included)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from summarytool import summary
from summarytool.zoo import ReferenceLSTM, reference_encoder

FLOP_COLS = ["output_size", "num_params", "flops", "backward_flops"]


# 4 layers x (in-proj 128*256*768 + out-proj 128*256*256 + FFN 2*128*256*1024) + head 128*256*10
# = 402,980,864 MACs in linear layers; attention 4 layers x 2 * 128*128*256 = 33,554,432 MACs.
ENCODER_FLOPS = 2 * (402_980_864 + 33_554_432)  # 873,070,592 = 873.07 MFLOPs


@pytest.mark.parametrize("mode", ["eval", "train"])  # (a summary takes the ordinary path in eval too)
def test_transformer_reference(mode: str) -> None:
    stats = summary(reference_encoder(), (1, 128, 256), mode=mode, col_names=FLOP_COLS, verbose=0)
    assert stats.total_flops == pytest.approx(ENCODER_FLOPS, rel=1e-3)
    assert stats.total_backward_flops == 2 * stats.total_flops
    assert not stats.flops_uncounted


def test_transformer_reference_on_meta() -> None:
    with torch.device("meta"):
        model = reference_encoder()
    stats = summary(model, (1, 128, 256), col_names=FLOP_COLS, verbose=0)
    assert stats.total_flops == pytest.approx(ENCODER_FLOPS, rel=1e-3)


def test_lstm_reference() -> None:
    # gates: 128 steps x 4*256 x (64 + 256) and x (256 + 256); head 128 x 256 x 10 (MACs)
    expected = 2 * (128 * 1024 * 320 + 128 * 1024 * 512 + 128 * 2560)  # 218.76 MFLOPs
    stats = summary(ReferenceLSTM(), (128, 1, 64), col_names=FLOP_COLS, verbose=0)
    assert stats.total_flops == pytest.approx(expected, rel=1e-3)
    with torch.device("meta"):
        model = ReferenceLSTM()
    assert summary(model, (128, 1, 64), col_names=FLOP_COLS, verbose=0).total_flops == pytest.approx(
        expected, rel=1e-3
    )


class Functional(nn.Module):
    """Everything torchinfo's mult-adds miss: @, F.linear, F.conv2d, einsum and attention."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.randn(16, 8))
        self.k = nn.Parameter(torch.randn(4, 3, 3, 3))
        self.proj = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor, img: torch.Tensor) -> torch.Tensor:
        h = x @ self.w.T  # (2, 5, 8) @ (8, 16): 2*5*8*16 MACs
        h = F.linear(h, torch.ones(8, 16))  # 2*5*16*8
        q = torch.einsum("bld,bmd->blm", h, h)  # 2*5*5*8
        y = F.conv2d(img, self.k)  # out (1, 4, 6, 6): 4*36 * 3*3*3
        att = F.scaled_dot_product_attention(h, h, h)  # 2 * (2*5*5*8)
        return self.proj(att).sum() + q.sum() + y.sum()


def test_functional_ops_are_counted_where_they_are_called() -> None:
    macs = 2 * 5 * 8 * 16 + 2 * 5 * 16 * 8 + 2 * 5 * 5 * 8 + 4 * 36 * 27 + 2 * (2 * 5 * 5 * 8) + 2 * 5 * 8 * 8
    stats = summary(
        Functional(),
        input_data=[torch.randn(2, 5, 8), torch.randn(1, 3, 8, 8)],
        col_names=FLOP_COLS,
        verbose=0,
    )
    assert stats.total_flops == 2 * macs
    root, proj = stats.summary_list
    assert proj.flops == 2 * (2 * 5 * 8 * 8)  # the Linear's own call
    assert root.flops == stats.total_flops  # children included
    assert stats.total_mult_adds == 2 * 5 * (64 + 8)  # torchinfo's rule sees only the Linear


def test_rows_include_their_children_and_containers_that_never_ran_sum_theirs() -> None:
    model = nn.Sequential(nn.ModuleList([nn.Linear(4, 4), nn.Linear(4, 2)]))
    model.forward = lambda x: model[0][1](model[0][0](x))  # a ModuleList has no forward of its own
    stats = summary(model, (3, 4), col_names=FLOP_COLS, verbose=0)
    rows = {r.get_layer_name(False, True): r for r in stats.summary_list}
    assert rows["Linear: 2-1"].flops == 2 * 3 * 4 * 4
    assert rows["Linear: 2-2"].flops == 2 * 3 * 4 * 2
    assert not rows["ModuleList: 1-1"].executed
    assert rows["ModuleList: 1-1"].flops == 2 * 3 * 4 * 6


def test_footer_and_columns() -> None:
    stats = summary(ReferenceLSTM(), (128, 1, 64), col_names=FLOP_COLS, verbose=0)
    text = str(stats)
    assert "Total FLOPs (M): 218.76" in text
    assert "Total backward FLOPs (M): 437.52" in text
    header = text.splitlines()[1]
    assert "FLOPs" in header and "Backward FLOPs" in header
    plain = str(summary(ReferenceLSTM(), (128, 1, 64), verbose=0))
    assert "FLOPs" not in plain  # the torchinfo table is unchanged unless FLOPs are asked for


@torch.library.custom_op("summarytool_test::blocky_matmul", mutates_args=())
def blocky_matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return a @ b


@blocky_matmul.register_fake
def _(a, b):
    return a.new_empty(a.shape[0], b.shape[1])


class UsesCustomOp(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.inner = nn.Linear(4, 4)

    def forward(self, x):
        return blocky_matmul(self.inner(x), torch.ones(4, 4))


def test_an_op_without_formula_is_never_a_silent_zero() -> None:
    stats = summary(UsesCustomOp(), (2, 4), col_names=FLOP_COLS, verbose=0)
    assert stats.flops_uncounted == {"summarytool_test.blocky_matmul": 1}
    text = str(stats)
    assert "FLOPs incomplete: 1 calls of summarytool_test.blocky_matmul not counted (rows marked *)" in text
    root, inner = stats.summary_list
    assert root.flops_to_str().endswith(" *") and not inner.flops_to_str().endswith("*")
