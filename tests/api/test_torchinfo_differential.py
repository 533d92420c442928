"""Differential tests against PyPI torchinfo 1.8.0, on cases where 1.8.0 and main agree.

1.8.0 differs from main (our target) in the footer units, tied weights, Linear mult-adds on
outputs with more than two dims, params of non-leaf modules in "Params size", and the default
mode; the models and settings below avoid those, so every row and total must be identical.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from models import DigitNet, Reuse, Tower
from torch import nn

from summarytool import summary

torchinfo = pytest.importorskip("torchinfo", reason="the differential oracle is PyPI torchinfo==1.8.0")


class LastStep(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(6, 10, num_layers=2, batch_first=True)
        self.fc = nn.Linear(10, 3)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.fc(out[:, -1])


def conv_bn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 2)
    )


def nested() -> nn.Module:
    return nn.Sequential(
        nn.Sequential(nn.Linear(3, 4), nn.ReLU()),
        nn.Sequential(nn.Sequential(nn.Linear(4, 4)), nn.Linear(4, 2)),
    )


COLS = ["kernel_size", "input_size", "output_size", "num_params", "params_percent", "mult_adds", "trainable"]

CASES: dict[str, tuple[Callable[[], nn.Module], tuple, dict]] = {
    "cnn_all_columns": (DigitNet, ((2, 1, 16, 16),), {"col_names": COLS}),
    "cnn_verbose": (
        DigitNet,
        ((2, 1, 16, 16),),
        {"col_names": ["kernel_size", "num_params"], "verbose_after": 2},
    ),
    "reused_modules": (Reuse, ((2, 4),), {"col_names": ["num_params", "mult_adds"], "depth": 5}),
    "reused_hidden": (Reuse, ((2, 4),), {"row_settings": ["hide_recursive_layers", "var_names"]}),
    "lstm": (LastStep, ((2, 5, 6),), {"col_names": ["output_size", "num_params", "mult_adds"]}),
    "conv_batchnorm": (
        conv_bn,
        ((2, 3, 8, 8),),
        {"col_names": ["output_size", "num_params", "mult_adds", "trainable"]},
    ),
    # 1.8.0 leaves the root's own `scale` out of "Params size" (#366), so that one total is skipped.
    "module_list_and_root_param": (Tower, ((4, 3),), {"skip": ("total_param_bytes",)}),
    "nested_depth2": (nested, ((2, 3),), {"depth": 2}),
    "nested_depth0": (nested, ((2, 3),), {"depth": 0}),
    "no_input": (DigitNet, (), {}),
    "ascii": (nested, ((2, 3),), {"row_settings": ["ascii_only"]}),
}


def _run(fn: Callable, make: Callable[[], nn.Module], args: tuple, kwargs: dict):
    kwargs = dict(kwargs)
    verbose_after = kwargs.pop("verbose_after", None)
    stats = fn(make(), *args, verbose=0, mode="eval", **kwargs)
    if verbose_after is not None:
        stats.formatting.verbose = verbose_after
    return stats


@pytest.mark.parametrize("case", sorted(CASES))
def test_same_table_and_totals_as_torchinfo_1_8_0(case: str) -> None:
    make, args, kwargs = CASES[case]
    kwargs = dict(kwargs)
    skip = kwargs.pop("skip", ())
    theirs = _run(torchinfo.summary, make, args, kwargs)
    ours = _run(summary, make, args, kwargs)

    # The table up to the footer, which 1.8.0 prints in other units.
    assert str(ours).split("Total mult-adds")[0] == str(theirs).split("Total mult-adds")[0]
    for field in (
        "total_params",
        "trainable_params",
        "total_mult_adds",
        "total_output_bytes",
        "total_param_bytes",
        "total_input",
    ):
        if field in skip:
            continue
        assert getattr(ours, field) == getattr(theirs, field), field
    assert len(ours.summary_list) == len(theirs.summary_list)
    for a, b in zip(ours.summary_list, theirs.summary_list, strict=True):
        for attr in (
            "class_name",
            "var_name",
            "depth",
            "depth_index",
            "input_size",
            "output_size",
            "num_params",
            "trainable_params",
            "macs",
            "is_recursive",
            "is_leaf_layer",
            "kernel_size",
            "trainable",
        ):
            assert getattr(a, attr) == getattr(b, attr), (repr(a), attr)
        assert a.leftover_params() == b.leftover_params()


def test_every_row_carries_torchinfos_attributes_as_instance_attributes() -> None:
    # Code that turns rows into records (vars(row), row.__dict__) sees the same keys on every row.
    theirs = torchinfo.summary(nested(), (2, 3), verbose=0)
    ours = summary(nested(), (2, 3), verbose=0)
    computed_here = {"children", "inner_layers"}  # properties on our rows, computed on access
    expected = set(vars(theirs.summary_list[0])) - computed_here
    for row in ours.summary_list:
        assert expected <= set(vars(row)), expected - set(vars(row))
        assert {"children", "inner_layers"} <= set(dir(row))
