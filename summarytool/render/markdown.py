"""A GitHub-flavoured Markdown table of a summary, for pull requests, issues and CI job summaries."""

from __future__ import annotations

from typing import TYPE_CHECKING

from summarytool.enums import ColumnSettings
from summarytool.formatting import HEADER_TITLES
from summarytool.render.text import row_cells, visible_rows
from summarytool.render.totals import footer

if TYPE_CHECKING:
    from summarytool.model_statistics import ModelStatistics

_NUMERIC = {
    "num_params",
    "params_percent",
    "mult_adds",
    "groups",
    "flops",
    "backward_flops",
    "activation_memory",
}


def _escape(text: str) -> str:
    """A cell's text with Markdown table syntax neutralised (pipes, line breaks)."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _title(col: ColumnSettings) -> str:
    return HEADER_TITLES.get(col, str(getattr(col, "value", col)))


def _line(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def to_markdown(stats: ModelStatistics) -> str:
    """The rows shown at the summary's depth, then the totals, as two Markdown tables.

    The tree prefix uses no-break spaces, which Markdown keeps, so depth stays visible once rendered;
    the qualified name column says exactly where each row sits.
    """
    fmt = stats.formatting
    cols = list(fmt.col_names)
    header = ["Layer", "Name", *(_title(c) for c in cols)]
    align = ["---", "---", *("---:" if getattr(c, "value", c) in _NUMERIC else "---" for c in cols)]
    lines = [_line(header), _line(align)]
    for info in visible_rows(stats.summary_list, fmt):
        reached = info.depth == fmt.max_depth
        prefix = fmt.get_start_str(info.depth).replace(" ", "\u00a0")
        layer = prefix + info.get_layer_name(fmt.show_var_name, fmt.show_depth)
        name = f"`{info.qualified_name}`" if info.qualified_name else "(root)"
        cells = row_cells(info, reached, stats.total_params)
        lines.append(
            _line([_escape(layer), _escape(name), *(_escape(str(cells.get(c, "")).strip()) for c in cols)])
        )
    lines += ["", _line(["Total", "Value"]), _line(["---", "---:"])]
    lines += [_line([_escape(t.label), t.value]) for t in footer(stats)]
    return "\n".join(lines) + "\n"
