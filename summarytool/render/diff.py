"""What changed between two summaries ("what did my edit do to the model"), and its text/Markdown forms.

Works on "summarytool.summary/1" dicts, so a summary saved last week diffs against one made now.
Rows are matched by qualified name (and, for a module called several times, by which call it is).
A row is reported when its class, shapes, kernel, own params (not counting the rows below it, so
one edited layer is one line, not a line per ancestor) or own FLOPs changed. Added and removed
sub-trees are reported once, at their top row, with the params they hold.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

DIFF_SCHEMA = "summarytool.diff/1"

_COMPARED = (
    "class_name",
    "input_size",
    "output_size",
    "kernel_size",
    "own_params",
    "own_trainable_params",
    "own_mult_adds",
    "own_flops",
)
_LABELS = {
    "own_params": "params",
    "own_trainable_params": "trainable params",
    "own_mult_adds": "mult-adds",
    "own_flops": "FLOPs",
    "class_name": "class",
}
_TOTALS = (
    "total_params",
    "trainable_params",
    "non_trainable_params",
    "total_mult_adds",
    "total_flops",
    "total_backward_flops",
    "total_param_bytes",
    "total_output_bytes",
    "total_input",
    "estimated_total_bytes",
)


def _own_values(rows: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Each row's own mult-adds (leaves only) and own FLOPs (its FLOPs less its direct children's)."""
    child_flops: Counter[int] = Counter()
    for r in rows:
        parent = r.get("parent")
        if isinstance(parent, int) and r.get("flops") is not None:
            child_flops[parent] += r["flops"]
    out = []
    for i, r in enumerate(rows):
        own: dict[str, Any] = {"own_mult_adds": r.get("mult_adds", 0) if r.get("is_leaf", True) else None}
        flops = r.get("flops")
        own["own_flops"] = None if flops is None else flops - child_flops[i]
        out.append(own)
    return out


def _fully_trainable(row: Mapping[str, Any]) -> bool:
    return row.get("own_trainable_params") == row.get("own_params")


def _keyed(rows: list[Mapping[str, Any]]) -> dict[tuple[str, int], int]:
    """(qualified name, n-th call of it) -> row position."""
    seen: Counter[str] = Counter()
    keys = {}
    for i, r in enumerate(rows):
        name = r.get("name", "")
        keys[(name, seen[name])] = i
        seen[name] += 1
    return keys


def _label(row: Mapping[str, Any], call: int) -> str:
    name = row.get("name") or "(root)"
    return f"{name}#{call + 1}" if call else name


def _subtree(rows: list[Mapping[str, Any]], top: int) -> range:
    depth = rows[top]["depth"]
    end = top + 1
    while end < len(rows) and rows[end]["depth"] > depth:
        end += 1
    return range(top, end)


def _one_sided(
    rows: list[Mapping[str, Any]], positions: set[int], keys: dict[int, tuple[str, int]]
) -> list[dict]:
    """The top rows of the sub-trees in `positions`, each with the params and row count it holds."""
    out = []
    covered: set[int] = set()
    for i in sorted(positions):
        if i in covered:
            continue
        span = [j for j in _subtree(rows, i) if j in positions]
        covered.update(span)
        r = rows[i]
        out.append(
            {
                "name": _label(r, keys[i][1]),
                "class_name": r.get("class_name"),
                "depth": r.get("depth"),
                "params": r.get("params", 0),
                "rows": len(span),
                "output_size": r.get("output_size"),
            }
        )
    return out


def _delta(before: Any, after: Any) -> dict[str, Any]:
    change: dict[str, Any] = {"before": before, "after": after}
    numeric = (int, float)
    if isinstance(before, numeric) and isinstance(after, numeric) and not isinstance(before, bool):
        change["delta"] = after - before
        if before:
            change["percent"] = round(100.0 * (after - before) / before, 2)
    return change


def diff_summaries(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    """The "summarytool.diff/1" dict: changed/added/removed rows and every total that moved."""
    rows_a, rows_b = list(a["rows"]), list(b["rows"])
    own_a, own_b = _own_values(rows_a), _own_values(rows_b)
    keys_a, keys_b = _keyed(rows_a), _keyed(rows_b)
    changed = []
    for key, ia in keys_a.items():
        ib = keys_b.get(key)
        if ib is None:
            continue
        ra, rb = {**rows_a[ia], **own_a[ia]}, {**rows_b[ib], **own_b[ib]}
        fields = {}
        for name in _COMPARED:
            va, vb = ra.get(name), rb.get(name)
            if va is None or vb is None:
                if name in ("own_flops", "own_mult_adds"):
                    continue  # not measured on one side (or a container's mult-adds): nothing to compare
            if va != vb:
                fields[name] = _delta(va, vb)
        if _fully_trainable(ra) and _fully_trainable(rb):
            fields.pop("own_trainable_params", None)  # says nothing the params line does not
        if fields:
            changed.append(
                {"name": _label(rows_b[ib], key[1]), "class_name": rb.get("class_name"), "changes": fields}
            )
    only_a = {i for k, i in keys_a.items() if k not in keys_b}
    only_b = {i for k, i in keys_b.items() if k not in keys_a}
    totals = {}
    ta, tb = a.get("totals", {}), b.get("totals", {})
    for name in _TOTALS:
        va, vb = ta.get(name), tb.get(name)
        if va is None and vb is None:
            continue
        if (va is None or vb is None) and "flops" in name:
            continue  # FLOPs counted on one side only: nothing to compare
        entry = _delta(va, vb)
        entry["changed"] = va != vb
        totals[name] = entry
    settings = {}
    for name in ("input_size",):
        va, vb = a.get("settings", {}).get(name), b.get("settings", {}).get(name)
        if va != vb:
            settings[name] = {"before": va, "after": vb}
    return {
        "schema": DIFF_SCHEMA,
        "models": [a.get("model"), b.get("model")],
        "settings": settings,
        "changed": changed,
        "added": _one_sided(rows_b, only_b, {i: k for k, i in keys_b.items()}),
        "removed": _one_sided(rows_a, only_a, {i: k for k, i in keys_a.items()}),
        "totals": totals,
    }


def has_changes(diff: Mapping[str, Any]) -> bool:
    """True when any row or total differs (the models are not the same as far as a summary can see)."""
    return bool(
        diff["changed"]
        or diff["added"]
        or diff["removed"]
        or diff["settings"]
        or any(t["changed"] for t in diff["totals"].values())
    )


# ----- rendering -------------------------------------------------------------------------------------


def _fmt(value: Any) -> str:
    if value is None:
        return "--"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.2f}"
    return str(value)


def _change_text(entry: Mapping[str, Any]) -> str:
    if "delta" not in entry:
        return ""
    delta = entry["delta"]
    text = f"{delta:+,}" if isinstance(delta, int) else f"{delta:+,.2f}"
    if "percent" in entry:
        text += f" ({entry['percent']:+.1f}%)"
    return text


def _table(rows: list[list[str]], right: set[int], indent: str = "  ") -> list[str]:
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    out = []
    for r in rows:
        cells = [cell.rjust(widths[c]) if c in right else cell.ljust(widths[c]) for c, cell in enumerate(r)]
        out.append((indent + "  ".join(cells)).rstrip())
    return out


def diff_rows_table(diff: Mapping[str, Any]) -> list[list[str]]:
    """The changed rows as [layer, field, before, after, change] lines (the layer named once per row)."""
    lines = [["layer", "field", "before", "after", "change"]]
    for row in diff["changed"]:
        first = True
        for name, entry in row["changes"].items():
            layer = f"{row['name']} ({row['class_name']})" if first else ""
            lines.append(
                [
                    layer,
                    _LABELS.get(name, name),
                    _fmt(entry["before"]),
                    _fmt(entry["after"]),
                    _change_text(entry),
                ]
            )
            first = False
    return lines


def diff_to_text(diff: Mapping[str, Any], name_a: str = "A", name_b: str = "B") -> str:
    """The diff for a terminal or CI log."""
    out = [f"summarytool diff: {name_a} -> {name_b}"]
    if not has_changes(diff):
        out.append("No differences: every row and total is the same.")
        return "\n".join(out) + "\n"
    out.append(
        f"Rows changed: {len(diff['changed'])}, added: {len(diff['added'])}, removed: {len(diff['removed'])}"
    )
    for name, entry in diff["settings"].items():
        out.append(f"Note: {name} differs: {entry['before']} -> {entry['after']}")
    if diff["changed"]:
        out += ["", "Changed rows:", *_table(diff_rows_table(diff), {2, 3, 4})]
    for title, sign, key in (("Added rows:", "+", "added"), ("Removed rows:", "-", "removed")):
        if diff[key]:
            table = [
                [f"{sign} {r['name']} ({r['class_name']})", f"{r['params']:,} params", _rows_text(r["rows"])]
                for r in diff[key]
            ]
            out += ["", title, *_table(table, {1})]
    moved = [
        [name, _fmt(e["before"]), _fmt(e["after"]), _change_text(e)]
        for name, e in diff["totals"].items()
        if e["changed"]
    ]
    if moved:
        out += ["", "Totals:", *_table([["total", "before", "after", "change"], *moved], {1, 2, 3})]
    return "\n".join(out) + "\n"


def _rows_text(n: int) -> str:
    return "1 row" if n == 1 else f"{n} rows"


def diff_to_markdown(diff: Mapping[str, Any], name_a: str = "A", name_b: str = "B") -> str:
    """The diff as Markdown, for a pull-request comment (every name and file name shown as text)."""
    from summarytool.render.markdown import code_span, escape_text

    out = [f"**summarytool diff** {code_span(name_a)} → {code_span(name_b)}", ""]
    if not has_changes(diff):
        return "\n".join([*out, "No differences: every row and total is the same."]) + "\n"
    if diff["changed"]:
        table = diff_rows_table(diff)
        out += [
            "| " + " | ".join(table[0]) + " |",
            "| --- | --- | ---: | ---: | ---: |",
            *("| " + " | ".join(escape_text(c) for c in r) + " |" for r in table[1:]),
            "",
        ]
    for title, sign, key in (("Added", "+", "added"), ("Removed", "−", "removed")):
        for r in diff[key]:
            out.append(
                f"- {title}: {sign} {code_span(r['name'])} ({escape_text(r['class_name'])}, "
                f"{_fmt(r['params'])} params, {_rows_text(r['rows'])})"
            )
    if diff["added"] or diff["removed"]:
        out.append("")
    moved = [(n, e) for n, e in diff["totals"].items() if e["changed"]]
    if moved:
        out += ["| total | before | after | change |", "| --- | ---: | ---: | ---: |"]
        out += [f"| {n} | {_fmt(e['before'])} | {_fmt(e['after'])} | {_change_text(e)} |" for n, e in moved]
    return "\n".join(out) + "\n"


def diff_to_json(diff: Mapping[str, Any], sources: list[str] | None = None) -> str:
    """The "summarytool.diff/1" dict as strict JSON: a value JSON cannot hold (NaN, Infinity) is null."""
    import json

    from summarytool.schema import jsonable

    out = {**diff, "sources": sources} if sources is not None else dict(diff)
    return json.dumps(jsonable(out), indent=2, allow_nan=False) + "\n"
