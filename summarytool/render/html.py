"""The HTML view of a summary (Jupyter's `_repr_html_`, `to_html()`): a real table, no scripts, no downloads.

- Depth is indentation; every container row has a caret that collapses its sub-tree. The caret is a
  hidden checkbox, and a CSS ``:has()`` rule per container hides the rows below it when unchecked
  (browsers without ``:has()`` simply keep the tree open). No JavaScript, no CDN, no web fonts.
- Numbers are right-aligned with thousands separators. A container's Param # is its whole sub-tree
  (what a collapsed row stands for), shown muted; the bars are each row's share of all params (and of
  all FLOPs when they were measured).
- The "parameter black hole": the deepest rows that hold more than half of all params are highlighted.
- Colours come from JupyterLab's CSS variables, with fallbacks that inherit the page's own colours and
  translucent tints, so the table reads in light and dark themes alike.
"""

from __future__ import annotations

import html
import uuid
from typing import TYPE_CHECKING, Any

from summarytool.columns import RowContext, check_collected, column
from summarytool.enums import DOMINANT_SHARE, OutputRowSettings
from summarytool.render.text import visible_rows
from summarytool.render.totals import footer

if TYPE_CHECKING:
    from summarytool.model_statistics import ModelStatistics
    from summarytool.records import LayerInfo

_CSS = """
#{id} {{ color: var(--jp-content-font-color1, inherit); font-family: var(--jp-ui-font-family, system-ui, sans-serif);
  font-size: var(--jp-ui-font-size1, 13px); }}
#{id} table.st-table {{ border-collapse: collapse; border-spacing: 0; width: auto; margin: 0; table-layout: auto;
  color: inherit; font-size: inherit; }}
#{id} caption {{ caption-side: top; text-align: left; padding: 0 0 .4em 0; font-weight: 600; color: inherit; }}
#{id} th, #{id} td {{ padding: .2em .7em; border: none; text-align: left; vertical-align: middle;
  white-space: nowrap; color: inherit; background: transparent; }}
#{id} thead th {{ border-bottom: 2px solid var(--jp-border-color1, rgba(128,128,128,.6));
  background: var(--jp-layout-color2, rgba(128,128,128,.10)); font-weight: 600; }}
#{id} tbody tr {{ background: transparent; }}
#{id} tbody td {{ border-bottom: 1px solid var(--jp-border-color3, rgba(128,128,128,.18)); }}
#{id} tbody tr:hover > td {{ background: rgba(128,128,128,.10); }}
#{id} .st-num {{ text-align: right; font-variant-numeric: tabular-nums; }}
#{id} .st-shape, #{id} .st-qname {{ font-family: var(--jp-code-font-family, ui-monospace, monospace);
  font-size: .95em; }}
#{id} .st-qname {{ opacity: .65; margin-left: .6em; }}
#{id} .st-sum {{ opacity: .7; font-style: italic; }}
#{id} .st-frozen {{ text-decoration: underline dotted; }}
#{id} .st-toggle {{ position: absolute; opacity: 0; width: 1px; height: 1px; margin: 0; pointer-events: none; }}
#{id} .st-caret, #{id} .st-pad {{ display: inline-block; width: 1.1em; text-align: center; user-select: none; }}
#{id} .st-caret {{ cursor: pointer; opacity: .8; }}
#{id} .st-caret::before {{ content: "\\25B8"; }}
#{id} .st-toggle:checked + .st-caret::before {{ content: "\\25BE"; }}
#{id} .st-toggle:focus-visible + .st-caret {{ outline: 1px solid var(--jp-brand-color1, #1976d2); }}
#{id} .st-bar {{ display: inline-block; position: relative; width: 6em; height: .65em; margin-right: .5em;
  vertical-align: middle; background: rgba(128,128,128,.22); border-radius: 2px; overflow: hidden; }}
#{id} .st-fill {{ position: absolute; left: 0; top: 0; bottom: 0; background: var(--jp-brand-color1, #1976d2); }}
#{id} .st-flops .st-fill {{ background: var(--jp-accent-color1, #00897b); }}
#{id} .st-pct {{ display: inline-block; min-width: 3.6em; text-align: right; font-variant-numeric: tabular-nums; }}
#{id} tr.st-hole > td {{ background: rgba(255,152,0,.22); }}
#{id} tr.st-hole > td:first-child {{ box-shadow: inset 3px 0 0 var(--jp-warn-color1, #f57c00); }}
#{id} .st-tag {{ margin-left: .6em; padding: 0 .4em; border-radius: 3px; font-size: .85em;
  border: 1px solid var(--jp-warn-color1, #f57c00); }}
#{id} tfoot th, #{id} tfoot td {{ font-weight: normal; }}
#{id} tfoot tr:first-child > * {{ border-top: 2px solid var(--jp-border-color1, rgba(128,128,128,.6)); }}
#{id} tfoot th {{ opacity: .8; }}
"""

_COLLAPSE_RULE = "#{id}:has(#{id}-t{n}:not(:checked)) tr.{id}-u{n} {{ display: none; }}\n"

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="color-scheme" content="light dark">
<title>{title}</title>
<style>body {{ margin: 1.5em; font-family: system-ui, sans-serif; }}</style></head>
<body>
{body}
</body></html>
"""


def _checked_id(element_id: Any) -> str:
    """`element_id` when it is a plain HTML id (a letter, then letters, digits, '_', ':', '.', '-').

    It lands in attributes and in CSS selectors, so anything else is refused rather than escaped.
    """
    ok = (
        isinstance(element_id, str)
        and element_id.isascii()
        and element_id[:1].isalpha()
        and not element_id.translate(_ID_REST)
    )
    if not ok:
        raise ValueError(
            f"element_id={element_id!r} is not a plain HTML id: start with a letter, then use only letters, "
            "digits, '_', ':', '.' and '-' (or leave it out for a random one)"
        )
    return element_id


_ID_REST = str.maketrans(dict.fromkeys("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_:.-"))


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _share(part: float, total: float) -> float:
    return part / total if total > 0 and part > 0 else 0.0


def _pct_text(share: float) -> str:
    if share <= 0:
        return ""
    if share < 0.001:
        return "&lt;0.1%"
    return f"{share:.1%}"


def _bar(share: float, kind: str, title: str) -> str:
    if share <= 0:
        return f'<td class="st-num st-{kind}"></td>'
    return (
        f'<td class="st-num st-{kind}" title="{_esc(title)}"><span class="st-bar">'
        f'<span class="st-fill" style="width:{min(share, 1.0) * 100:.2f}%"></span></span>'
        f'<span class="st-pct">{_pct_text(share)}</span></td>'
    )


def _ancestors(rows: list[LayerInfo]) -> list[list[int]]:
    """For each visible row, the positions of its visible ancestors (rows are in tree order)."""
    out: list[list[int]] = []
    stack: list[int] = []
    for i, row in enumerate(rows):
        while stack and rows[stack[-1]].depth >= row.depth:
            stack.pop()
        out.append(list(stack))
        stack.append(i)
    return out


def black_holes(rows: list[LayerInfo], total_params: int) -> set[int]:
    """Positions of the deepest non-root rows holding more than DOMINANT_SHARE (half) of all params.

    A container holding most params because one layer inside it does is not flagged: the layer is.
    """
    if total_params <= 0:
        return set()
    heavy = {
        i
        for i, r in enumerate(rows)
        if r.depth > 0 and not r.is_recursive and r.num_params > DOMINANT_SHARE * total_params
    }
    ancestors = _ancestors(rows)
    covered = {a for i in heavy for a in ancestors[i]}
    return heavy - covered


def _flops_of(row: LayerInfo) -> float | None:
    value = getattr(row, "flops", None)
    return value if isinstance(value, (int, float)) else None


def _columns(stats: ModelStatistics, has_flops: bool) -> list[str]:
    """The data columns, in the summary's col_names order; Param # (with its share) always, FLOPs when measured."""
    out: list[str] = []
    for col in stats.formatting.col_names:
        key = str(getattr(col, "value", col))
        if key == "params_percent":
            continue  # the share bar next to Param # shows it
        if key == "flops" and not has_flops:
            continue
        if key not in out:
            out.append(key)
    if "num_params" not in out:
        out.append("num_params")
    if has_flops and "flops" not in out:
        out.append("flops")
    return out


def _header(cols: list[str]) -> str:
    cells = ['<th scope="col">Layer</th>']
    for key in cols:
        spec = column(key)
        title = _esc(spec.title)
        if key == "num_params":
            cells.append(
                f'<th scope="col" class="st-num" title="a container shows its whole sub-tree">{title}</th>'
            )
            cells.append('<th scope="col" class="st-num">Share of params</th>')
        elif key == "flops":
            cells.append(f'<th scope="col" class="st-num">{title}</th>')
            cells.append('<th scope="col" class="st-num">Share of FLOPs</th>')
        elif spec.numeric:
            cells.append(f'<th scope="col" class="st-num">{title}</th>')
        else:
            cells.append(f'<th scope="col">{title}</th>')
    return "<thead><tr>" + "".join(cells) + "</tr></thead>"


def _param_cell(row: LayerInfo) -> str:
    if row.is_recursive:
        return '<td class="st-num st-sum" title="shared module, counted at its first call">(recursive)</td>'
    if row.num_params == 0:
        return '<td class="st-num">--</td>'
    classes = "st-num"
    titles = []
    if not row.is_leaf_layer:
        classes += " st-sum"
        titles.append("all params of this layer and the layers below")
    if row.trainable_params == 0:
        classes += " st-frozen"
        titles.append("frozen: not trainable")
    elif row.trainable_params < row.num_params:
        titles.append(f"{row.trainable_params:,} trainable")
    title = f' title="{_esc("; ".join(titles))}"' if titles else ""
    return f'<td class="{classes}"{title}>{row.num_params:,}</td>'


def _row(
    stats: ModelStatistics,
    rows: list[LayerInfo],
    i: int,
    element_id: str,
    ancestors: list[int],
    has_children: bool,
    holes: set[int],
    cols: list[str],
    total_flops: float,
) -> str:
    row = rows[i]
    fmt = stats.formatting
    reached = row.depth == fmt.max_depth
    classes = ["st-row", *(f"{element_id}-u{a}" for a in ancestors)]
    if i in holes:
        classes.append("st-hole")
    label = _esc(row.get_layer_name(fmt.show_var_name, fmt.show_depth))
    if has_children:
        toggle = (
            f'<input type="checkbox" class="st-toggle" id="{element_id}-t{i}" checked '
            f'aria-label="collapse {_esc(row.qualified_name or row.class_name)}">'
            f'<label class="st-caret" for="{element_id}-t{i}" title="collapse / expand"></label>'
        )
    else:
        toggle = '<span class="st-pad"></span>'
    qname = f'<span class="st-qname">{_esc(row.qualified_name)}</span>' if row.qualified_name else ""
    tag = ""
    if i in holes:
        share = _share(row.num_params, stats.total_params)
        tag = f'<span class="st-tag" title="holds {share:.1%} of all params">parameter black hole</span>'
    indent = f"padding-left:{0.3 + 1.3 * row.depth:.1f}em"
    cells = [
        f'<td class="st-layer" style="{indent}">{toggle}<span class="st-class">{label}</span>{qname}{tag}</td>'
    ]
    ctx = RowContext(reached, stats.total_params, OutputRowSettings.ALL_OUTPUT_SHAPES in fmt.row_settings)
    for key in cols:
        if key == "num_params":
            cells.append(_param_cell(row))
            share = 0.0 if row.is_recursive else _share(row.num_params, stats.total_params)
            cells.append(_bar(share, "params", f"{share:.2%} of all params"))
        elif key == "flops":
            flops = _flops_of(row)
            cells.append(f'<td class="st-num">{f"{int(flops):,}" if flops else "--"}</td>')
            share = _share(flops or 0, total_flops)
            cells.append(_bar(share, "flops", f"{share:.2%} of all FLOPs"))
        elif key == "mult_adds":
            macs = row.subtree_macs()
            css = "st-num" if row.is_leaf_layer else "st-num st-sum"
            cells.append(f'<td class="{css}">{f"{macs:,}" if macs > 0 else "--"}</td>')
        else:
            spec = column(key)
            css = ' class="st-shape"' if spec.shape else ' class="st-num"' if spec.numeric else ""
            cells.append(f"<td{css}>{_esc(spec.cell(row, ctx))}</td>")
    attrs = f' data-name="{_esc(row.qualified_name)}" data-depth="{row.depth}"'
    return f'<tr class="{" ".join(classes)}"{attrs}>' + "".join(cells) + "</tr>"


def _footer(stats: ModelStatistics, width: int) -> str:
    rest = f' colspan="{width - 1}"' if width > 2 else ""
    parts = [
        f'<tr data-total="{t.key}"><th scope="row">{_esc(t.label)}</th><td{rest}>{_esc(t.value)}</td></tr>'
        for t in footer(stats, notes=False)
    ]
    return "<tfoot>" + "".join(parts) + "</tfoot>"


def to_html(stats: ModelStatistics, element_id: str | None = None, full_page: bool = False) -> str:
    """The summary as a self-contained HTML fragment (or, with full_page, a whole document).

    `element_id` fixes the id that scopes the CSS (random by default, so several summaries, even
    ones saved in a notebook by an earlier kernel, never share collapse state).
    """
    element_id = _checked_id(element_id) if element_id else f"st-{uuid.uuid4().hex[:10]}"
    check_collected(stats)
    css_id = element_id.replace(":", "\\:").replace(".", "\\.")  # a selector's ':' and '.' escaped
    rows = visible_rows(stats.summary_list, stats.formatting)
    flops = [_flops_of(r) for r in rows]
    has_flops = any(f is not None for f in flops)
    total_flops = getattr(stats, "total_flops", None)
    if not isinstance(total_flops, (int, float)):
        total_flops = sum(f for r, f in zip(rows, flops, strict=True) if f and r.is_leaf_layer)
    cols = _columns(stats, has_flops)
    ancestors = _ancestors(rows)
    parents = {a[-1] for a in ancestors if a}
    holes = black_holes(rows, stats.total_params)
    body = [
        _row(stats, rows, i, element_id, ancestors[i], i in parents, holes, cols, total_flops)
        for i in range(len(rows))
    ]
    width = 1 + sum(2 if c in ("num_params", "flops") else 1 for c in cols)
    css = _CSS.format(id=css_id) + "".join(_COLLAPSE_RULE.format(id=css_id, n=n) for n in sorted(parents))
    model = rows[0].class_name if rows else "empty model"
    caption = f"{model}: {stats.total_params:,} params"
    if stats.input_size and stats.total_mult_adds:
        caption += f", {stats.total_mult_adds:,} mult-adds"
    fragment = (
        f'<div class="st-summary" id="{element_id}"><style>{css}</style>'
        f'<table class="st-table"><caption>{_esc(caption)}</caption>{_header(cols)}'
        f"<tbody>{''.join(body)}</tbody>{_footer(stats, width)}</table></div>"
    )
    if full_page:
        return _PAGE.format(title=_esc(f"{model} summary"), body=fragment)
    return fragment
