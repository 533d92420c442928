"""The table's columns: one registry entry per column, read by every renderer (text, Markdown, HTML).

Like the FLOP formulas of ``torch.utils.flop_counter``, a column is one function registered with a
decorator that refuses a second registration of the same name::

    @register_column(CostColumns.FLOPS, "FLOPs", numeric=True, needs=FLOPS_COUNTED)
    def _flops(row: LayerInfo, ctx: RowContext) -> str:
        return row.flops_to_str()

The entry holds the title, whether the column is a number (right-aligned outside the text table),
how a row's cell is written (the text table's string; Markdown escapes it, HTML escapes it or draws
more around it), the group of footer totals it brings, and what the capture must have collected for it
(`needs`): a column whose data was not collected raises `MissingColumnDataError`, naming the
argument to pass, instead of showing ``--`` on every row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from summarytool.enums import Column, ColumnSettings, CostColumns

if TYPE_CHECKING:
    from summarytool.model_statistics import ModelStatistics
    from summarytool.records import LayerInfo


class RowContext(NamedTuple):
    """What a cell may need beyond its row: the display settings of this rendering."""

    reached_max_depth: bool  # the row sits at the summary's depth limit (its subtree is collapsed)
    total_params: int
    all_outputs: bool = False  # the all_output_shapes row setting


class Needs(NamedTuple):
    """Data a column shows that the capture collects only when asked."""

    what: str  # "FLOPs"
    how: str  # the argument that collects it, as said in the error
    collected: Callable[[ModelStatistics], bool]


class MissingColumnDataError(ValueError):
    """A column asks for data this summary did not collect (e.g. FLOPs a pass did not count)."""


def _flops_counted(stats: ModelStatistics) -> bool:
    return stats.total_flops is not None or any(r.flops is not None for r in stats.summary_list)


def _memory_estimated(stats: ModelStatistics) -> bool:
    return stats.memory is not None or any(r.activation_bytes for r in stats.summary_list)


FLOPS_COUNTED = Needs(
    "FLOPs",
    "pass col_names=[..., 'flops'] (or 'backward_flops', or device='meta') to summary() so they are counted",
    _flops_counted,
)
MEMORY_ESTIMATED = Needs(
    "the training-step memory estimate",
    "pass train_step=True (or col_names=[..., 'activation_memory']) to summary()",
    _memory_estimated,
)


@dataclass(frozen=True)
class ColumnSpec:
    key: Column
    title: str  # the header ("Param #")
    numeric: bool  # right-aligned in Markdown and HTML
    shape: bool  # a shape or size list (monospace in HTML)
    cell: Callable[[LayerInfo, RowContext], str]  # a row's cell as the text table writes it
    needs: Needs | None = None
    # The group of footer totals (render/totals.py) the text table shows only with this column.
    footer_group: str = ""

    @property
    def name(self) -> str:
        return str(self.key.value)


COLUMNS: dict[Column, ColumnSpec] = {}
_BY_NAME: dict[str, ColumnSpec] = {}  # the same entries by name ("num_params"), as the HTML view asks


def register_column(
    key: Column,
    title: str,
    *,
    numeric: bool = False,
    shape: bool = False,
    needs: Needs | None = None,
    footer_group: str = "",
) -> Callable[[Callable[[LayerInfo, RowContext], str]], Callable[[LayerInfo, RowContext], str]]:
    """Register the cell function of column `key`; a second registration of one key is an error."""

    def register(cell: Callable[[LayerInfo, RowContext], str]) -> Callable[[LayerInfo, RowContext], str]:
        if key in COLUMNS:
            raise RuntimeError(
                f"the column {key.value!r} is registered already (by {COLUMNS[key].cell.__name__})"
            )
        COLUMNS[key] = _BY_NAME[key.value] = ColumnSpec(key, title, numeric, shape, cell, needs, footer_group)
        return cell

    return register


def column(key: Any) -> ColumnSpec:
    """The entry of a column, given its enum member or its name ("num_params")."""
    spec = COLUMNS.get(key) or _BY_NAME.get(key)
    if spec is None:
        raise KeyError(f"no column {key!r}; the columns are {[c.name for c in COLUMNS.values()]}")
    return spec


def row_cells(row: LayerInfo, ctx: RowContext, columns: Iterable[Column] | None = None) -> dict[Column, str]:
    """The text cells of `row` for `columns` (all registered ones by default)."""
    if columns is None:
        return {key: spec.cell(row, ctx) for key, spec in COLUMNS.items()}
    return {key: column(key).cell(row, ctx) for key in columns}


def check_collected(stats: ModelStatistics) -> None:
    """Raise MissingColumnDataError for a shown column whose data this summary's capture did not collect.

    A partial summary (the rows that ran before a forward pass failed) shows what it has.
    """
    if getattr(stats, "partial", False):
        return
    for key in stats.formatting.col_names:
        spec = column(key)
        needs = spec.needs
        if needs is not None and not needs.collected(stats):
            raise MissingColumnDataError(
                f"The {spec.name!r} column shows {needs.what}, which this summary did not collect: "
                f"{needs.how}."
            )


def _dash(value: object) -> str:
    return str(value) if value else "--"


@register_column(ColumnSettings.KERNEL_SIZE, "Kernel Shape", shape=True)
def _kernel_size(row: LayerInfo, ctx: RowContext) -> str:
    return _dash(row.kernel_size)


@register_column(ColumnSettings.GROUPS, "Groups", numeric=True)
def _groups(row: LayerInfo, ctx: RowContext) -> str:
    return _dash(row.groups)


@register_column(ColumnSettings.INPUT_SIZE, "Input Shape", shape=True)
def _input_size(row: LayerInfo, ctx: RowContext) -> str:
    return _dash(row.input_size)


@register_column(ColumnSettings.OUTPUT_SIZE, "Output Shape", shape=True)
def _output_size(row: LayerInfo, ctx: RowContext) -> str:
    """One shape (torchinfo's rule), or with all_output_shapes every output's, comma-separated."""
    shapes = row.output_shapes if ctx.all_outputs else None
    if shapes and len(shapes) > 1:
        return ", ".join(str(s) for s in shapes)
    return _dash(row.output_size)


@register_column(ColumnSettings.NUM_PARAMS, "Param #", numeric=True)
def _num_params(row: LayerInfo, ctx: RowContext) -> str:
    return row.num_params_to_str(ctx.reached_max_depth)


@register_column(ColumnSettings.PARAMS_PERCENT, "Param %", numeric=True)
def _params_percent(row: LayerInfo, ctx: RowContext) -> str:
    return row.params_percent(ctx.total_params, ctx.reached_max_depth)


@register_column(ColumnSettings.MULT_ADDS, "Mult-Adds", numeric=True)
def _mult_adds(row: LayerInfo, ctx: RowContext) -> str:
    return row.macs_to_str(ctx.reached_max_depth)


@register_column(ColumnSettings.TRAINABLE, "Trainable")
def _trainable(row: LayerInfo, ctx: RowContext) -> str:
    return _dash(row.trainable)


# Both FLOPs columns show what the op-level counter measured, and bring the FLOPs totals.
_FLOPS: dict[str, Any] = {"numeric": True, "needs": FLOPS_COUNTED, "footer_group": "flops"}


@register_column(CostColumns.FLOPS, "FLOPs", **_FLOPS)
def _flops(row: LayerInfo, ctx: RowContext) -> str:
    return row.flops_to_str()


@register_column(CostColumns.BACKWARD_FLOPS, "Backward FLOPs", **_FLOPS)
def _backward_flops(row: LayerInfo, ctx: RowContext) -> str:
    return row.flops_to_str(backward=True)


@register_column(CostColumns.ACTIVATION_MEMORY, "Activation Memory", numeric=True, needs=MEMORY_ESTIMATED)
def _activation_memory(row: LayerInfo, ctx: RowContext) -> str:
    return f"{row.activation_bytes:,}" if row.activation_bytes else "--"
