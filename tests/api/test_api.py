"""The public vocabulary and argument checking, as torchinfo users rely on them."""

from __future__ import annotations

import threading
import time

import pytest
import torch
from models import Tower, TwoHeads
from torch import nn

import summarytool
from summarytool import (
    ColumnSettings,
    CostColumns,
    Mode,
    ModelStatistics,
    OutputRowSettings,
    RowSettings,
    Units,
    Verbosity,
    summary,
)


def test_exports_and_module_paths() -> None:
    for name in (
        "summary",
        "ModelStatistics",
        "LayerInfo",
        "ColumnSettings",
        "RowSettings",
        "Mode",
        "Units",
        "Verbosity",
        "FormattingOptions",
        "HEADER_TITLES",
        "clear_cached_forward_pass",
    ):
        assert hasattr(summarytool, name), name
    from summarytool.formatting import HEADER_TITLES, FormattingOptions  # noqa: F401
    from summarytool.layer_info import LayerInfo  # noqa: F401
    from summarytool.model_statistics import ModelStatistics as MS  # noqa: F401
    from summarytool.torchinfo import summary as s

    assert s is summary
    assert HEADER_TITLES[ColumnSettings.NUM_PARAMS] == "Param #"


def test_enum_values() -> None:
    assert [c.value for c in ColumnSettings] == [
        "kernel_size",
        "groups",
        "input_size",
        "output_size",
        "num_params",
        "params_percent",
        "mult_adds",
        "trainable",
    ]
    # summarytool's own columns and row settings live apart, so list(ColumnSettings) is torchinfo's.
    assert [c.value for c in CostColumns] == [
        "flops",  # beyond torchinfo
        "backward_flops",
        "activation_memory",
    ]
    assert [r.value for r in RowSettings] == ["depth", "var_names", "ascii_only", "hide_recursive_layers"]
    assert [r.value for r in OutputRowSettings] == ["all_output_shapes"]  # beyond torchinfo
    assert {m.value for m in Mode} == {"train", "eval", "same"}
    assert [u.value for u in Units] == ["auto", "k", "M", "G", "T", ""]
    assert [int(v) for v in Verbosity] == [0, 1, 2]


def test_all_torchinfo_columns_are_torchinfos_table() -> None:
    """torchinfo's "all columns" idiom shows torchinfo's columns and footer, nothing of ours."""
    stats = summary(nn.Linear(4, 3), input_size=(2, 4), col_names=list(ColumnSettings), verbose=0)
    text = str(stats)
    assert "Trainable" in text and "Mult-Adds" in text
    assert "FLOPs" not in text and "Activation Memory" not in text and "Training step" not in text


@pytest.mark.parametrize("flops", ["flops", CostColumns.FLOPS])
def test_own_columns_by_string_or_member(flops: object) -> None:
    stats = summary(
        nn.Linear(4, 3),
        input_size=(2, 4),
        col_names=["output_size", flops],
        row_settings=[OutputRowSettings.ALL_OUTPUT_SHAPES, "depth"],
        verbose=0,
    )
    assert "FLOPs" in str(stats)
    assert stats.total_flops == 2 * (2 * 4 * 3)  # addmm: 2 FLOPs per multiply-add


@pytest.mark.parametrize(
    ("kwargs", "error", "text"),
    [
        ({"input_size": (4, 3), "col_width": 0}, ValueError, "Column width must be greater than 0"),
        ({"input_size": (4, 3), "verbose": 3}, ValueError, "verbose must be 0"),
        (
            {"input_size": (4, 3), "col_names": ["flops_x"]},
            ValueError,
            "'flops_x' is not a valid ColumnSettings",
        ),
        ({"input_size": (4, 3), "row_settings": ["tree"]}, ValueError, "'tree' is not a valid RowSettings"),
        ({"input_size": (4, 3), "mode": "inference"}, ValueError, "'inference' is not a valid Mode"),
        ({"col_names": ["output_size"]}, ValueError, "You must pass input_data or input_size"),
        (
            {"input_size": (4, 3), "input_data": torch.zeros(4, 3)},
            RuntimeError,
            "Only one of (input_data, input_size)",
        ),
        ({"input_size": ()}, ValueError, "input_size is empty"),
        ({"input_size": (4, 0)}, ValueError, "size <= 0"),
        ({"input_size": (4, -3)}, ValueError, "size <= 0"),
        ({"input_size": 4}, TypeError, "input_size must be a tuple, list or torch.Size"),
        ({"input_size": (4, 3), "depth": -1}, ValueError, "depth must be an int >= 0"),
    ],
)
def test_bad_arguments_get_clear_errors(kwargs: dict, error: type, text: str) -> None:
    with pytest.raises(error) as info:
        summary(Tower(), **{"verbose": 0, **kwargs})
    assert text in str(info.value)


def test_bad_device_string_is_torchs_error() -> None:
    with pytest.raises(RuntimeError):
        summary(Tower(), (4, 3), device="nonsense", verbose=0)


def test_input_size_forms() -> None:
    assert summary(Tower(), [4, 3], verbose=0).input_size == [(4, 3)]
    assert summary(Tower(), torch.Size([4, 3]), verbose=0).input_size == [(4, 3)]
    two = summary(TwoHeads(), ((2, 5), (2, 7)), verbose=0)
    assert two.input_size == [(2, 5), (2, 7)]
    # A list of shapes is kept as the caller's own list, as torchinfo main keeps it.
    assert summary(TwoHeads(), [[2, 5], [2, 7]], verbose=0).input_size == [[2, 5], [2, 7]]


def test_statistics_fields_and_static_methods() -> None:
    stats = summary(Tower(), (4, 3), verbose=0)
    assert (stats.total_params, stats.trainable_params, stats.total_param_bytes) == (138, 138, 552)
    assert stats.total_mult_adds == 528 and stats.total_output_bytes == 960
    assert stats.summary_list[0].class_name == "Tower" and stats.summary_list[0].parent_info is None
    assert ModelStatistics.to_readable(1_500_000) == (Units.MEGABYTES, 1.5)
    assert ModelStatistics.to_readable(999) == (Units.NONE, 999.0)
    assert ModelStatistics.to_readable(2e9, Units.MEGABYTES) == (Units.MEGABYTES, 2000.0)
    assert ModelStatistics.format_output_num(120_000, Units.AUTO, True) == " (kB): 120"
    assert ModelStatistics.format_output_num(21_840, Units.NONE, False) == ": 21,840"
    assert ModelStatistics.format_output_num(975_200, Units.AUTO, False) == " (k): 975.20"
    assert ModelStatistics.float_to_megabytes(1_000_000) == 4.0
    assert ModelStatistics.to_megabytes(2_500_000) == 2.5


def test_changed_units_show_when_printed_again() -> None:
    stats = summary(Tower(), (4, 3), verbose=0)
    stats.formatting.macs_units = Units.MEGABYTES
    stats.formatting.params_size_units = Units.KILOBYTES
    stats.formatting.params_count_units = Units.KILOBYTES
    text = str(stats)
    assert "Total mult-adds (M): 0.00" in text
    assert "Params size (kB): 0.55" in text
    assert "Total params (k): 0.14" in text


def test_layer_info_strings() -> None:
    stats = summary(Tower(), (4, 3), verbose=0)
    root, stem = stats.summary_list[0], stats.summary_list[1]
    assert repr(stem) == "Linear: 1"
    assert stem.trainable == "True"
    assert root.leftover_params() == 6
    assert len(root.children) == len(stats.summary_list) - 1
    assert stem.get_layer_name(True, True) == "Linear (stem): 1-1"
    assert stem.params_percent(stats.total_params, False) == " 17.39%"


class Slow(nn.Module):
    """Sleeps inside forward (releasing the GIL), so calls from two threads interleave."""

    def __init__(self) -> None:
        super().__init__()
        self.first, self.second = nn.Linear(8, 16), nn.Linear(16, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        time.sleep(0.002)
        return self.second(torch.relu(self.first(x)))


def test_two_threads_summarising_the_same_model_each_get_their_own_rows() -> None:
    model = Slow()
    expected = {b: str(summary(model, (b, 8), verbose=0)) for b in (3, 5)}
    barrier = threading.Barrier(2)
    results: dict[int, list[str]] = {3: [], 5: []}

    def work(batch: int) -> None:
        barrier.wait()
        for _ in range(15):
            results[batch].append(str(summary(model, (batch, 8), verbose=0)))

    threads = [threading.Thread(target=work, args=(b,)) for b in (3, 5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for batch, tables in results.items():
        assert tables == [expected[batch]] * 15
