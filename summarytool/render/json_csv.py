"""JSON, CSV and pandas forms of a summary: the schema dict written out, and one flat record per row."""

from __future__ import annotations

import csv
import io
import json
import os
from typing import TYPE_CHECKING, Any

from summarytool.schema import OPTIONAL_ROW_FIELDS, summary_to_dict

if TYPE_CHECKING:
    from summarytool.model_statistics import ModelStatistics

# The columns of to_csv() and to_dataframe(), in order; optional measurements follow when present.
RECORD_FIELDS: tuple[str, ...] = (
    "index",
    "name",
    "class_name",
    "var_name",
    "depth",
    "depth_index",
    "parent",
    "is_leaf",
    "is_recursive",
    "executed",
    "input_size",
    "output_size",
    "kernel_size",
    "groups",
    "params",
    "trainable_params",
    "own_params",
    "own_trainable_params",
    "param_bytes",
    "output_bytes",
    "mult_adds",
    "leaf_mult_adds",
)


def write_text(text: str, path: str | os.PathLike[str] | None) -> str:
    """Write `text` to `path` when one is given (UTF-8, parent folder must exist); return it either way."""
    if path is not None:
        with open(path, "w", encoding="utf-8", newline="") as f:
            f.write(text)
    return text


def to_json(
    stats: ModelStatistics, path: str | os.PathLike[str] | None = None, indent: int | None = 2
) -> str:
    """The schema dict as JSON text (a trailing newline, so files end cleanly)."""
    text = json.dumps(summary_to_dict(stats), indent=indent, ensure_ascii=False) + "\n"
    return write_text(text, path)


def row_records(stats: ModelStatistics) -> tuple[list[str], list[dict[str, Any]]]:
    """Every row (all depths) as a flat record, and the field names in column order."""
    rows = summary_to_dict(stats)["rows"]
    extra = [name for name in OPTIONAL_ROW_FIELDS if any(name in r for r in rows)]
    fields = [*RECORD_FIELDS, *extra]
    return fields, [{f: r.get(f) for f in fields} for r in rows]


# A cell a spreadsheet would run as a formula (OWASP's CSV-injection rule): one starting with these.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER_CHARS = str.maketrans(dict.fromkeys("0123456789.eE+-"))


def _plain_number(text: str) -> bool:
    """'-5' or '-1.5e3': a number a spreadsheet reads as a number, not a formula."""
    if text.translate(_NUMBER_CHARS):
        return False
    try:
        float(text)
    except ValueError:
        return False
    return True


def _csv_cell(value: Any) -> Any:
    """Shapes and kernel sizes as compact JSON ("[1, 3, 224, 224]"); None as an empty cell.

    Text that a spreadsheet would take for a formula (a class name or ModuleDict key such as
    "=HYPERLINK(...)") gets a leading single quote; numbers, negative ones too, stay numbers. A lone
    carriage return inside a cell becomes a line feed (the csv module would not quote it).
    """
    if value is None:
        return ""
    if isinstance(value, bool) or isinstance(value, (int, float)):
        return value
    text = json.dumps(value) if isinstance(value, (list, dict)) else str(value)
    if text.startswith(_FORMULA_START) and not _plain_number(text):
        text = "'" + text
    return text.replace("\r\n", "\n").replace("\r", "\n")


def to_csv(stats: ModelStatistics, path: str | os.PathLike[str] | None = None) -> str:
    """One CSV line per row, every depth included (filter on the `depth` column), header first."""
    fields, records = row_records(stats)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for record in records:
        writer.writerow({k: _csv_cell(v) for k, v in record.items()})
    return write_text(buf.getvalue(), path)


def to_dataframe(stats: ModelStatistics) -> Any:
    """A pandas DataFrame of the rows (same columns as to_csv; shapes stay Python lists)."""
    try:
        import pandas as pd
    except ImportError as exc:
        raise ImportError(
            "to_dataframe() needs pandas, which is not installed: pip install pandas "
            "(to_dict(), to_json() and to_csv() need nothing extra)."
        ) from exc
    fields, records = row_records(stats)
    return pd.DataFrame.from_records(records, columns=fields)
