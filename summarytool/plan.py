"""The plan of a summary: every argument read, checked and decided once, before anything runs.

Display settings only shape the table later; what to capture (FLOPs, a training step, every output's
shape) and where (the device asked for, a dry run or not) are decided here and never read again from
display code.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from summarytool.capture.memory import OPTIMIZERS
from summarytool.capture.precision import is_mixed, low_dtype, parse_precision
from summarytool.enums import (
    DEFAULT_COLUMN_NAMES,
    DEFAULT_ROW_SETTINGS,
    FLOP_COLUMNS,
    INPUT_NEEDED_COLUMNS,
    Column,
    ColumnSettings,
    CostColumns,
    Mode,
    OutputRowSettings,
    RowSetting,
    parse_column,
    parse_row_setting,
)
from summarytool.formatting import FormattingOptions
from summarytool.inputs import check_batch_dim, check_dtypes, normalize_input_size


@dataclass(frozen=True)
class SummaryPlan:
    """What one summary() call captures, where, and how its table will look."""

    columns: tuple[Column, ...]
    row_settings: frozenset[RowSetting]
    depth: int | float
    verbose: int
    col_width: int
    mode: Mode
    input_size: Any
    input_data: Any
    batch_dim: int | None
    dtypes: Sequence[Any] | None
    forward_kwargs: dict[str, Any] = field(hash=False)
    device: torch.device | str | None  # as asked for
    cache: bool
    optimizer: str | None  # the training-step estimate's, or None
    precision: str
    measure_memory: bool
    dry_run: bool  # on meta copies (device="meta", or any training-step estimate)

    @property
    def has_input(self) -> bool:
        return self.input_size is not None or self.input_data is not None

    @property
    def count_flops(self) -> bool:
        return self.dry_run or bool(FLOP_COLUMNS & set(self.columns))

    @property
    def all_output_shapes(self) -> bool:
        return OutputRowSettings.ALL_OUTPUT_SHAPES in self.row_settings

    @property
    def low_dtype(self) -> torch.dtype | None:
        return low_dtype(self.precision)

    @property
    def mixed(self) -> bool:
        return is_mixed(self.precision)

    def formatting(self) -> FormattingOptions:
        """The display settings (made after the capture; a fresh object each time)."""
        return FormattingOptions(self.depth, self.verbose, self.columns, self.col_width, self.row_settings)

    def run_settings(self) -> dict[str, Any]:
        """How this summary was made, for exports (the CLI adds its target)."""
        return {
            "device": None if self.device is None else str(self.device),
            "dtypes": None if self.dtypes is None else [str(d) for d in self.dtypes],
            "batch_dim": self.batch_dim,
            "mode": self.mode.value,
            "train_step": self.optimizer,
            "measure_memory": bool(self.measure_memory),
        }


def make_plan(
    model: Any,
    *,
    input_size: Any,
    input_data: Any,
    batch_dim: int | None,
    cache_forward_pass: bool | None,
    col_names: Iterable[str] | None,
    col_width: int,
    depth: Any,
    device: Any,
    dtypes: Sequence[Any] | None,
    mode: Any,
    row_settings: Iterable[str] | None,
    verbose: int | None,
    train_step: Any,
    measure_memory: bool,
    precision: Any,
    kwargs: dict[str, Any],
) -> SummaryPlan:
    """The plan for these summary() arguments, or the ValueError/TypeError that names the wrong one."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"summary() needs a torch.nn.Module, got {type(model).__name__}.")
    has_input = input_data is not None or input_size is not None
    columns = _parse_columns(col_names, has_input)
    rows = (
        DEFAULT_ROW_SETTINGS
        if row_settings is None
        else frozenset(parse_row_setting(r) for r in row_settings)
    )
    model_mode = Mode.SAME if mode is None else _parse(Mode, mode)
    if verbose is None:
        verbose = 0 if getattr(sys, "ps1", None) else 1
    _validate(input_data, input_size, columns, col_width, verbose, depth)
    check_dtypes(dtypes)
    check_batch_dim(batch_dim, normalize_input_size(input_size) if input_size is not None else ())
    optimizer = _parse_train_step(train_step, columns, has_input)
    if measure_memory and not has_input:
        raise ValueError("measure_memory needs input_size or input_data: it measures a real forward pass.")
    precision = parse_precision(precision)
    if precision != "fp32" and optimizer is None:
        raise ValueError(
            f"precision={precision!r} is the training step's: give train_step too (e.g. 'adamw')."
        )
    dry_run = has_input and (
        optimizer is not None or (device is not None and torch.device(device).type == "meta")
    )
    if not dry_run:  # (an estimate runs on meta copies: it may name a device it cannot run on)
        if not measure_memory:  # (the measurement says it in its own words)
            _refuse_cuda_without_cuda(device)
        _refuse_meta_weights_on_a_real_device(model, device, input_size)
    return SummaryPlan(
        columns=columns,
        row_settings=frozenset(rows),
        depth=depth,
        verbose=verbose,
        col_width=col_width,
        mode=model_mode,
        input_size=input_size,
        input_data=input_data,
        batch_dim=batch_dim,
        dtypes=dtypes,
        forward_kwargs=kwargs,
        device=device,
        cache=bool(cache_forward_pass),
        optimizer=optimizer,
        precision=precision,
        measure_memory=bool(measure_memory),
        dry_run=bool(dry_run),
    )


def _parse_train_step(train_step: Any, columns: tuple[Column, ...], has_input: bool) -> str | None:
    """The optimizer of the training-step memory estimate, or None when none was asked for."""
    if train_step is True:
        name: str | None = "adam"
    elif train_step is False or train_step is None:
        name = "adam" if CostColumns.ACTIVATION_MEMORY in columns else None
    elif isinstance(train_step, str) and train_step.lower() in OPTIMIZERS:
        name = train_step.lower()
    else:
        raise ValueError(f"train_step must be True, False or one of {OPTIMIZERS}, got {train_step!r}.")
    if name is not None and not has_input:
        raise ValueError("train_step needs input_size or input_data: the estimate runs a training step.")
    return name


def _parse(enum: type, value: Any) -> Any:
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(repr(e.value) for e in enum)
        raise ValueError(f"{value!r} is not a valid {enum.__name__}; choose from {allowed}.") from None


def _parse_columns(col_names: Iterable[str] | None, has_input: bool) -> tuple[Column, ...]:
    if col_names is None:
        return DEFAULT_COLUMN_NAMES if has_input else (ColumnSettings.NUM_PARAMS,)
    if isinstance(col_names, str):
        col_names = (col_names,)
    return tuple(parse_column(c) for c in col_names)


def _validate(
    input_data: Any,
    input_size: Any,
    columns: tuple[Column, ...],
    col_width: int,
    verbose: Any,
    depth: Any,
) -> None:
    if not isinstance(col_width, int) or col_width <= 0:
        raise ValueError(f"Column width must be greater than 0: col_width={col_width!r}")
    if verbose not in (0, 1, 2):
        raise ValueError(f"verbose must be 0 (quiet), 1 (default) or 2 (verbose), got {verbose!r}.")
    if not (isinstance(depth, int) and not isinstance(depth, bool) and depth >= 0) and depth != math.inf:
        raise ValueError(
            f"depth must be an int >= 0 (0 shows the root only) or float('inf') for every level, got {depth!r}."
        )
    if input_data is not None and input_size is not None:
        raise RuntimeError("Only one of (input_data, input_size) should be specified.")
    needs = [c.value for c in columns if c in INPUT_NEEDED_COLUMNS]
    if input_data is None and input_size is None and needs:
        raise ValueError(
            f"You must pass input_data or input_size in order to use columns: {needs}. "
            "Without input, only parameter columns (num_params, params_percent, kernel_size, groups, trainable) work."
        )


def _refuse_meta_weights_on_a_real_device(model: nn.Module, device: Any, input_size: Any) -> None:
    """A model built on meta has shapes but no values: it can be dry-run, never moved to a device."""
    if device is None or input_size is None or torch.device(device).type == "meta":
        return
    meta = next((n for n, p in model.named_parameters() if p.device.type == "meta"), None)
    if meta is not None:
        raise ValueError(
            f"The model's weights are on the meta device (shapes, no values; e.g. {meta!r}), so it cannot run "
            f"on {device!r}. Use device='meta' for a dry run that allocates nothing, or give it real weights "
            f"first: model.to_empty(device={str(device)!r}) and load a state dict."
        )


def _refuse_cuda_without_cuda(device: Any) -> None:
    """torch's own error for this is an AssertionError about how torch was compiled."""
    if device is not None and torch.device(device).type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"torch sees no CUDA GPU here (device={str(device)!r}). Use device='cpu', or device='meta' for a "
            "dry run that allocates nothing (a training-step estimate with train_step=True may still name "
            "device='cuda': it runs on meta copies as the GPU would)."
        )
