"""A GitHub-flavoured Markdown table of a summary, for pull requests, issues and CI job summaries."""

from __future__ import annotations

from typing import TYPE_CHECKING

from summarytool.columns import RowContext, check_collected, column
from summarytool.enums import OutputRowSettings
from summarytool.render.text import visible_rows
from summarytool.render.totals import footer

if TYPE_CHECKING:
    from summarytool.model_statistics import ModelStatistics

# What would turn a class name or a ModuleDict key into markup in a CI step summary or a PR comment:
# HTML (tags, comments, entities: '<', '>' and '&' are written as entities), code spans, emphasis,
# strikethrough, table cells and links/images (a link needs "](", so only that "]" is escaped; a
# lone "[2, 16]" stays as it is, as does the "_" inside output_size, which cannot open emphasis).
_MD_ESCAPES = {c: "\\" + c for c in "\\`*|~"}
_MD_ESCAPES.update({"<": "&lt;", ">": "&gt;", "&": "&amp;"})
_MD_TABLE = str.maketrans(_MD_ESCAPES)
# Line breaks end a table row (Markdown's own, and those str.splitlines() would split at).
_LINE_BREAKS = str.maketrans(dict.fromkeys("\r\n\v\f\x1c\x1d\x1e\x85\u2028\u2029", " "))


def _escape_underscores(text: str) -> str:
    """'_' escaped unless it sits inside a word (a_b), where it cannot open or close emphasis."""
    parts = text.split("_")
    out = [parts[0]]
    for before, after in zip(parts, parts[1:], strict=False):
        inside = before[-1:].isalnum() and after[:1].isalnum()
        out.append("_" if inside else "\\_")
        out.append(after)
    return "".join(out)


def escape_text(text: str) -> str:
    """`text` as literal Markdown (one table cell or one line): every character shown as it is."""
    text = str(text).translate(_LINE_BREAKS).translate(_MD_TABLE).replace("](", "\\](")
    return _escape_underscores(text) if "_" in text else text


def code_span(text: str) -> str:
    """`text` in backticks, shown as it is inside a table (its pipes escaped, as GFM asks)."""
    text = str(text).translate(_LINE_BREAKS)
    if "`" in text or "\\" in text:
        return escape_text(text)  # a code span cannot hold these literally: plain, escaped text instead
    return "`" + text.replace("|", "\\|") + "`"


_escape = escape_text


def _line(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def to_markdown(stats: ModelStatistics) -> str:
    """The rows shown at the summary's depth, then the totals, as two Markdown tables.

    The tree prefix uses no-break spaces, which Markdown keeps, so depth stays visible once rendered;
    the qualified name column says exactly where each row sits.
    """
    fmt = stats.formatting
    check_collected(stats)
    cols = list(fmt.col_names)
    specs = [column(c) for c in cols]
    header = ["Layer", "Name", *(_escape(spec.title) for spec in specs)]
    align = ["---", "---", *("---:" if spec.numeric else "---" for spec in specs)]
    lines = [_line(header), _line(align)]
    all_outputs = OutputRowSettings.ALL_OUTPUT_SHAPES in fmt.row_settings
    for info in visible_rows(stats.summary_list, fmt):
        reached = info.depth == fmt.max_depth
        prefix = fmt.get_start_str(info.depth).replace(" ", "\u00a0")
        layer = prefix + info.get_layer_name(fmt.show_var_name, fmt.show_depth)
        name = code_span(info.qualified_name) if info.qualified_name else "(root)"
        ctx = RowContext(reached, stats.total_params, all_outputs)
        lines.append(
            _line([_escape(layer), name, *(_escape(spec.cell(info, ctx).strip()) for spec in specs)])
        )
    lines += ["", _line(["Total", "Value"]), _line(["---", "---:"])]
    lines += [_line([_escape(t.label), _escape(t.value)]) for t in footer(stats, notes=False)]
    return "\n".join(lines) + "\n"
