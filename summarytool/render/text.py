"""The torchinfo table, character for character."""

from __future__ import annotations

from typing import TYPE_CHECKING

from summarytool.columns import RowContext, check_collected, column, row_cells
from summarytool.enums import ColumnSettings, OutputRowSettings
from summarytool.render.totals import footer

if TYPE_CHECKING:
    from summarytool.formatting import FormattingOptions
    from summarytool.model_statistics import ModelStatistics
    from summarytool.records import LayerInfo


def _wrap_shapes(cell: str, width: int) -> list[str]:
    """A list of shapes cut into lines of at most `width`, between shapes (inside one only when it alone is wider)."""
    pieces = cell.split(", [")
    shapes = [p if i == 0 else "[" + p for i, p in enumerate(pieces)]
    lines: list[str] = []
    for n, shape in enumerate(shapes):
        shape += "," if n < len(shapes) - 1 else ""
        for part in _wrap_words(shape, width):
            if lines and len(lines[-1]) + 1 + len(part) <= width:
                lines[-1] += " " + part
            else:
                lines.append(part)
    return lines


def _wrap_words(text: str, width: int) -> list[str]:
    """`text` as lines of at most `width`, cut after a comma where one fits, else hard."""
    lines: list[str] = []
    while len(text) > width:
        cut = text.rfind(", ", 0, width)
        end = cut + 1 if cut > 0 else width
        lines.append(text[:end])
        text = text[end:].lstrip()
    return [*lines, text] if text else lines


def _format_wrapped(fmt: FormattingOptions, name: str, cells: dict[ColumnSettings, str]) -> str:
    """One row; an Output Shape cell wider than the column goes on continuation lines, other cells blank there."""
    cell = cells.get(ColumnSettings.OUTPUT_SIZE, "")
    if len(cell) <= fmt.col_width or ColumnSettings.OUTPUT_SIZE not in fmt.col_names:
        return fmt.format_row(name, cells)
    first, *rest = _wrap_shapes(cell, fmt.col_width)
    out = fmt.format_row(name, {**cells, ColumnSettings.OUTPUT_SIZE: first})
    for line in rest:
        out += fmt.format_row("", {ColumnSettings.OUTPUT_SIZE: line})
    return out


def visible_rows(summary_list: list[LayerInfo], fmt: FormattingOptions) -> list[LayerInfo]:
    """Rows shown at the current depth, without repeated calls when they are hidden."""
    return [
        info
        for info in summary_list
        if info.depth <= fmt.max_depth and not (fmt.hide_recursive_layers and info.is_recursive)
    ]


def layers_to_str(summary_list: list[LayerInfo], fmt: FormattingOptions, total_params: int) -> str:
    parts: list[str] = []
    all_outputs = OutputRowSettings.ALL_OUTPUT_SHAPES in fmt.row_settings
    for info in visible_rows(summary_list, fmt):
        reached = info.depth == fmt.max_depth
        name = fmt.get_start_str(info.depth) + info.get_layer_name(fmt.show_var_name, fmt.show_depth)
        cells = row_cells(info, RowContext(reached, total_params, all_outputs), fmt.col_names)
        # Only a list of shapes wraps: a single shape is torchinfo's cell, as wide as it is.
        many = all_outputs and len(info.output_shapes) > 1
        parts.append(_format_wrapped(fmt, name, cells) if many else fmt.format_row(name, cells))
        if fmt.is_verbose:
            prefix = fmt.get_start_str(info.depth + 1)
            for inner_name, inner in info.inner_layers.items():
                parts.append(fmt.format_row(prefix + inner_name, inner))
    return "".join(parts)


def render_table(stats: ModelStatistics) -> str:
    """The whole summary: rows, then the footer's totals (render/totals.py), a divider between sections."""
    check_collected(stats)
    fmt = stats.formatting
    divider = "=" * fmt.get_total_width()
    lines = [
        divider,
        fmt.header_row() + divider,
        layers_to_str(stats.summary_list, fmt, stats.total_params) + divider,
    ]
    # A group of totals a column brings (FLOPs) is printed only with that column.
    groups = {column(c).footer_group for c in fmt.col_names}
    section = 0
    for total in footer(stats):
        if total.group and total.group not in groups:
            continue
        if total.section != section:
            lines.append(divider)
            section = total.section
        if total.note:
            lines.append(total.label)
        else:
            lines.append(f"{'  ' if total.detail else ''}{total.label}: {total.value}")
    lines.append(divider)
    return "\n".join(lines)
