"""Drop-in fidelity with torchinfo main (issue: "Drop-in means drop-in").

Each test is one torchinfo main behaviour that a team swapping the import relies on; the models are
our own (tests/models.py). The Param # property runs over the whole shared zoo.
"""

from __future__ import annotations

import json
import math
import re
import sys

import pytest
import torch
from models import (
    ZOO,
    DictOut,
    SharedActivationBlocks,
    SharedEmbeddingSeq2Seq,
    TensorKernelConv,
)
from support import column_sum, table_parts
from torch import nn

from summarytool import ColumnSettings, ModelStatistics, summary


def _row_name(line: str) -> str:
    """`Linear: 4-1` from a row line (the tree prefix and the cells stripped)."""
    found = re.search(r"(\w+: \d+-\d+)", line)
    return found.group(1) if found else line.split()[0]


def _footer_value(text: str, label: str) -> str:
    _, _, footer = table_parts(text)
    return next(line.split(":", 1)[1].strip() for line in footer if line.startswith(label))


@pytest.mark.parametrize(("name", "factory", "kwargs"), ZOO, ids=[z[0] for z in ZOO])
@pytest.mark.parametrize("depth", [3, math.inf])
def test_param_column_adds_up_to_total_params_on_every_zoo_model(name, factory, kwargs, depth) -> None:
    model = factory()
    stats = summary(
        model, **kwargs, depth=depth, col_names=("output_size", "num_params", "mult_adds"), verbose=0
    )
    text = str(stats)
    assert column_sum(text, "Param #") == stats.total_params == sum(p.numel() for p in model.parameters())
    shown_macs = ModelStatistics.to_readable(column_sum(text, "Mult-Adds"))[1]
    assert shown_macs == pytest.approx(
        float(_footer_value(text, "Total mult-adds").replace(",", "")), abs=0.005
    )


def test_container_shown_again_between_shared_calls_is_recursive_with_torchinfos_index() -> None:
    text = str(summary(SharedActivationBlocks(), input_size=(1, 3), depth=4, verbose=0))
    _, rows, _ = table_parts(text)
    names = [_row_name(r) for r in rows]
    # Stage 1: layers (again before each Linear), act, layers, act; torchinfo inserts one object,
    # so both copies show the index of the last one and both are (recursive).
    assert names[2:8] == [
        "Stage: 2-1",
        "ModuleList: 3-3",
        "Linear: 4-1",
        "GELU: 3-2",
        "ModuleList: 3-3",
        "Linear: 4-2",
    ]
    assert [r.split()[-1] for r in rows if "ModuleList: 3-" in r] == ["(recursive)"] * 4
    assert column_sum(text, "Param #") == 48


def test_stack_sharing_an_embedding_with_another_stack_shows_no_params_again() -> None:
    text = str(summary(SharedEmbeddingSeq2Seq(), input_data=torch.randint(0, 20, (2, 4)), verbose=0))
    _, rows, _ = table_parts(text)
    cells = {_row_name(r): r.split()[-1] for r in rows}
    assert cells["Stack: 1-1"] == "--"  # the decoder ran first: its embedding row holds the 120
    assert cells["Embedding: 2-1"] == "120"
    assert cells["Stack: 1-2"] == "--"  # the encoder's embedding is the decoder's: not shown again
    assert cells["Embedding: 2-3"] == "(recursive)"
    assert column_sum(text, "Param #") == 120 + 42 + 42


def test_kernel_size_kept_as_a_0d_tensor() -> None:
    stats = summary(
        TensorKernelConv(), input_size=(1, 2, 9), col_names=("kernel_size", "num_params"), verbose=0
    )
    assert stats.summary_list[0].kernel_size == 5
    assert stats.summary_list[1].kernel_size == [5]
    assert stats.total_params == 22


def test_dict_output_shape_with_batch_dim_is_torchinfos_nested_form() -> None:
    with_batch_dim = summary(DictOut(), input_size=(4,), batch_dim=0, verbose=0)
    assert with_batch_dim.summary_list[0].output_size == [[1, 3]]
    assert "[[1, 3]]" in str(with_batch_dim)
    plain = summary(DictOut(), input_size=(2, 4), verbose=0)
    assert plain.summary_list[0].output_size == [2, 3]


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ([torch.Size([1, 28, 28]), [12]], [(1, 28, 28), [12]]),
        ((2, 4), [(2, 4)]),
        ([2, 4], [(2, 4)]),
        (((2, 4), (2, 4)), [(2, 4), (2, 4)]),
    ],
)
def test_input_size_is_kept_as_the_caller_gave_it(given, kept) -> None:
    class TwoOrOne(nn.Module):
        def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
            return x.sum() if y is None else x.sum() + y.sum()

    stats = summary(TwoOrOne(), input_size=given, verbose=0)
    assert stats.input_size == kept
    assert [isinstance(s, list) for s in stats.input_size] == [isinstance(s, list) for s in kept]


def test_plain_int_inputs_count_in_input_size_as_torchinfo_main_counts_them() -> None:
    class Scaled(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(3, 3)

        def forward(self, x: torch.Tensor, scale_factor: int) -> torch.Tensor:
            return self.fc(x) * scale_factor

    x = torch.randn(2, 3)
    stats = summary(Scaled(), input_data={"x": x, "scale_factor": 5}, verbose=0)
    assert stats.total_input == sys.getsizeof(x.untyped_storage()) + 5


def test_depth_infinity_shows_every_level_and_survives_json() -> None:
    model = SharedActivationBlocks()
    deep = summary(model, input_size=(1, 3), depth=math.inf, verbose=0)
    assert str(deep) == str(summary(model, input_size=(1, 3), depth=50, verbose=0))
    data = json.loads(deep.to_json())
    assert data["settings"]["max_depth"] is None
    assert str(ModelStatistics.from_json(deep.to_json())) == str(deep)


@pytest.mark.parametrize("bad", [-1, 2.5, "3", True, float("nan")])
def test_depth_must_be_a_count_or_infinity(bad) -> None:
    with pytest.raises(ValueError, match="depth must be"):
        summary(nn.Linear(2, 2), input_size=(1, 2), depth=bad, verbose=0)


def test_all_columns_idiom_has_exactly_torchinfos_columns() -> None:
    stats = summary(nn.Linear(2, 2), input_size=(1, 2), col_names=list(ColumnSettings), verbose=0)
    header, _, footer = table_parts(str(stats))
    assert header.split()[-1] == "Trainable"
    assert not any("FLOPs" in line or "Training step" in line for line in footer)
