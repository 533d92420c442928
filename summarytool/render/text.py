"""The torchinfo table, character for character."""

from __future__ import annotations

from typing import TYPE_CHECKING

from summarytool.columns import RowContext, check_collected, row_cells
from summarytool.enums import FLOP_COLUMNS, ColumnSettings, OutputRowSettings
from summarytool.render.totals import memory_blocks
from summarytool.shapes import is_concrete

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
    """The whole summary: rows, totals and (after a forward pass) the size estimates."""
    check_collected(stats)
    fmt = stats.formatting
    divider = "=" * fmt.get_total_width()
    num = stats.format_output_num
    lines = [
        divider,
        fmt.header_row() + divider,
        layers_to_str(stats.summary_list, fmt, stats.total_params) + divider,
        f"Total params{num(stats.total_params, fmt.params_count_units, False)}",
        f"Trainable params{num(stats.trainable_params, fmt.params_count_units, False)}",
        f"Non-trainable params{num(stats.total_params - stats.trainable_params, fmt.params_count_units, False)}",
    ]
    if stats.input_size:
        total_bytes = stats.total_input + stats.total_output_bytes + stats.total_param_bytes
        lines.append(f"Total mult-adds{num(stats.total_mult_adds, fmt.macs_units, False)}")
        symbolic = sum(1 for info in stats.summary_list if not is_concrete(info.output_size))
        if symbolic:  # (a dry run through data-dependent ops: sizes are symbols such as u0)
            lines.append(
                f"Sizes incomplete: {symbolic:,} rows have sizes the data decides (u0, u1, ...); their "
                "mult-adds and output bytes count 0 here"
            )
        if stats.total_flops is not None and FLOP_COLUMNS & set(fmt.col_names):
            lines.append(f"Total FLOPs{num(stats.total_flops, fmt.macs_units, False)}")
            lines.append(f"Total backward FLOPs{num(stats.total_backward_flops, fmt.macs_units, False)}")
            for op, calls in sorted(stats.flops_uncounted.items()):
                lines.append(f"FLOPs incomplete: {calls:,} calls of {op} not counted (rows marked *)")
        lines += [
            divider,
            f"Input size{num(stats.total_input, fmt.params_size_units, True)}",
            f"Forward/backward pass size{num(stats.total_output_bytes, fmt.params_size_units, True)}",
            f"Params size{num(stats.total_param_bytes, fmt.params_size_units, True)}",
            f"Estimated Total Size{num(total_bytes, fmt.params_size_units, True)}",
        ]
        for block in memory_blocks(stats):
            lines.append(divider)
            for line in block:
                indent = "  " if line.detail else ""
                lines.append(f"{indent}{line.label}{num(line.nbytes, fmt.params_size_units, True)}")
    lines.append(divider)
    return "\n".join(lines)
