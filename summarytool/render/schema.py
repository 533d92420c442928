"""The versioned dictionary form of a summary ("summarytool.summary/1"), and the way back.

A summary saved as a dict (or JSON) can be printed, diffed and re-exported later without the
model: `summary_to_dict` reads only the finished ModelStatistics, and `summary_from_dict`
rebuilds one whose rows are real `LayerInfo` objects (with no module behind them).
docs/summary-schema.md documents every key.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import math
import platform
import warnings
from collections.abc import Mapping
from enum import Enum
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from summarytool.enums import Units, parse_column, parse_row_setting

if TYPE_CHECKING:
    from summarytool.model_statistics import ModelStatistics
    from summarytool.records import LayerInfo

SCHEMA = "summarytool.summary/1"
SCHEMA_FAMILY = "summarytool.summary/"

# Measurements the engine adds on some runs (FLOPs, training-step memory). A row or a summary carries
# each key only when that run measured it, so files written by older and newer engines are all valid
# "summarytool.summary/1". Row FLOPs include the row's children's FLOPs.
OPTIONAL_ROW_FIELDS: tuple[str, ...] = ("flops", "backward_flops", "flops_uncounted", "activation_bytes")
# Row fields that only mean something when FLOPs were counted on that row / memory was estimated.
_FLOP_ROW_FIELDS = frozenset({"backward_flops", "flops_uncounted"})
_MEMORY_ROW_FIELDS = frozenset({"activation_bytes"})
OPTIONAL_TOTAL_FIELDS: tuple[str, ...] = ("total_flops", "total_backward_flops")
# Structured measurements of the whole run: FLOPs per ATen op, ops without a formula, the
# training-step memory estimate (a MemoryReport, exported as its fields).
OPTIONAL_SUMMARY_OBJECTS: tuple[str, ...] = ("flops_by_op", "flops_uncounted", "memory", "measured_memory")


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, (dict, list)) and not value)


def jsonable(value: Any) -> Any:
    """A JSON-safe copy of shapes, sizes, enums and small report objects (never the tensors themselves)."""
    if isinstance(value, Enum):
        return jsonable(value.value)
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=str) if isinstance(value, (set, frozenset)) else value
        return [jsonable(v) for v in items]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, SimpleNamespace):  # a report loaded from another engine version
        return jsonable(vars(value))
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return jsonable(to_dict())
    if hasattr(value, "item") and callable(value.item):  # numpy / torch scalars
        try:
            return jsonable(value.item())
        except (TypeError, ValueError, RuntimeError):
            pass
    return str(value)


def _versions() -> dict[str, str | None]:
    import summarytool

    try:
        import torch

        torch_version: str | None = str(torch.__version__)
    except ImportError:  # pragma: no cover - summarytool needs torch
        torch_version = None
    return {
        "summarytool": summarytool.__version__,
        "torch": torch_version,
        "python": platform.python_version(),
    }


def _parent_indices(rows: list[LayerInfo]) -> list[int | None]:
    """Each row's parent row index: the nearest earlier row one level shallower (rows are in tree order)."""
    parents: list[int | None] = []
    stack: list[int] = []
    for i, row in enumerate(rows):
        while stack and rows[stack[-1]].depth >= row.depth:
            stack.pop()
        parents.append(stack[-1] if stack else None)
        stack.append(i)
    return parents


def row_to_dict(row: LayerInfo, index: int, parent: int | None, memory: bool = False) -> dict[str, Any]:
    """One row: where it sits, what it is, its shapes, parameters and compute."""
    leaf = bool(row.is_leaf_layer)
    out: dict[str, Any] = {
        "index": index,
        "name": row.qualified_name,
        "var_name": row.var_name,
        "class_name": row.class_name,
        "depth": row.depth,
        "depth_index": row.depth_index,
        "parent": parent,
        "is_leaf": leaf,
        "is_recursive": bool(row.is_recursive),
        "executed": bool(row.executed),
        "input_size": jsonable(row.input_size),
        "output_size": jsonable(row.output_size),
        "kernel_size": jsonable(row.kernel_size),
        "groups": row.groups,
        "params": row.num_params,
        "trainable_params": row.trainable_params,
        "own_params": row.num_params if leaf else row.leftover_params(),
        "own_trainable_params": row.trainable_params if leaf else row.leftover_trainable_params(),
        "param_bytes": row.param_bytes,
        "output_bytes": row.output_bytes,
        "mult_adds": row.macs,
        "leaf_mult_adds": row.macs if leaf else row.leaf_macs(),
    }
    counted = getattr(row, "flops", None) is not None
    for name in OPTIONAL_ROW_FIELDS:
        value = getattr(row, name, None)
        if not _present(value) or (name in _FLOP_ROW_FIELDS and not counted):
            continue
        if name in _MEMORY_ROW_FIELDS and not memory:
            continue
        out[name] = jsonable(value)
    return out


def estimated_total_bytes(stats: ModelStatistics) -> int | None:
    """Input + forward/backward + params, as the table's "Estimated Total Size" (None without input)."""
    if not stats.input_size or stats.total_input is None:
        return None
    return stats.total_input + stats.total_output_bytes + stats.total_param_bytes


def summary_to_dict(stats: ModelStatistics) -> dict[str, Any]:
    """The "summarytool.summary/1" dict of a finished summary (see docs/summary-schema.md)."""
    fmt = stats.formatting
    rows = stats.summary_list
    parents = _parent_indices(rows)
    settings: dict[str, Any] = {
        "input_size": jsonable(stats.input_size),
        "max_depth": fmt.max_depth,
        "verbose": int(fmt.verbose),
        "col_names": [jsonable(c) for c in fmt.col_names],
        "col_width": fmt.col_width,
        "row_settings": sorted(jsonable(r) for r in fmt.row_settings),
        "params_count_units": jsonable(fmt.params_count_units),
        "params_size_units": jsonable(fmt.params_size_units),
        "macs_units": jsonable(fmt.macs_units),
        "layer_name_width": fmt.layer_name_width,
    }
    run = getattr(stats, "run_settings", None)
    if run:
        settings["run"] = jsonable(run)
    totals: dict[str, Any] = {
        "total_params": stats.total_params,
        "trainable_params": stats.trainable_params,
        "non_trainable_params": stats.total_params - stats.trainable_params,
        "total_mult_adds": stats.total_mult_adds,
        "total_input": stats.total_input,
        "total_output_bytes": stats.total_output_bytes,
        "total_param_bytes": stats.total_param_bytes,
        "estimated_total_bytes": estimated_total_bytes(stats),
    }
    for name in OPTIONAL_TOTAL_FIELDS:
        value = getattr(stats, name, None)
        if _present(value):
            totals[name] = jsonable(value)
    out: dict[str, Any] = {
        "schema": SCHEMA,
        "versions": _versions(),
        "model": rows[0].class_name if rows else None,
        "settings": settings,
        "totals": totals,
    }
    for name in OPTIONAL_SUMMARY_OBJECTS:
        value = getattr(stats, name, None)
        if _present(value):
            out[name] = jsonable(value)
    memory = getattr(stats, "memory", None) is not None
    out["rows"] = [row_to_dict(row, i, parents[i], memory) for i, row in enumerate(rows)]
    return out


# ----- the way back ---------------------------------------------------------------------------


class SchemaError(ValueError):
    """A dict or JSON file that is not a summary this version of summarytool can read."""


def check_schema(data: Any, source: str = "the summary") -> None:
    """Raise SchemaError unless `data` is a "summarytool.summary/1" dict with rows and totals."""
    if not isinstance(data, Mapping):
        raise SchemaError(
            f"{source} is a {type(data).__name__}, not a summary dict; save one with stats.to_json(path)."
        )
    schema = data.get("schema")
    if not isinstance(schema, str) or not schema.startswith(SCHEMA_FAMILY):
        raise SchemaError(
            f"{source} has schema {schema!r}, not {SCHEMA!r}: it was not written by summarytool's "
            "to_json()/to_dict(); save the summary with stats.to_json(path) or `summarytool summary ... --format json`."
        )
    if schema != SCHEMA:
        raise SchemaError(
            f"{source} uses schema {schema!r}; this summarytool reads {SCHEMA!r}. "
            "Upgrade summarytool (pip install -U summarytool) to read it."
        )
    for key, kind in (("rows", list), ("totals", Mapping), ("settings", Mapping)):
        if not isinstance(data.get(key), kind):
            raise SchemaError(f"{source} has no {key!r} {kind.__name__}; the file is truncated or edited.")


_ROW_KEYS = ("name", "class_name", "depth", "params", "trainable_params")


def _set_value(obj: Any, name: str, value: Any) -> None:
    """Set a saved measurement, unless the class derives it (a read-only property such as backward_flops)."""
    if isinstance(getattr(type(obj), name, None), property):
        return
    setattr(obj, name, value)


def _row_from_dict(d: Mapping[str, Any], position: int, source: str) -> LayerInfo:
    from torch import nn

    from summarytool.records import LayerInfo

    missing = [k for k in _ROW_KEYS if k not in d]
    if missing:
        raise SchemaError(f"{source}: row {position} lacks {missing}; the file is truncated or edited.")
    # A real LayerInfo gets every default the engine defines (new measurements included); then the
    # saved values replace them and the placeholder module is dropped: a loaded row has no module.
    row = LayerInfo(str(d.get("var_name", "")), nn.Identity(), int(d["depth"]))
    leaf = bool(d.get("is_leaf", True))
    row.__dict__.update(
        layer_id=None,
        module=None,
        class_name=d["class_name"],
        depth_index=d.get("depth_index"),
        executed=bool(d.get("executed", True)),
        is_leaf_layer=leaf,
        is_recursive=bool(d.get("is_recursive", False)),
        qualified_name=d["name"],
        input_size=d.get("input_size") or [],
        output_size=d.get("output_size") or [],
        kernel_size=d.get("kernel_size"),
        groups=d.get("groups"),
        num_params=int(d["params"]),
        trainable_params=int(d["trainable_params"]),
        param_bytes=int(d.get("param_bytes", 0)),
        output_bytes=int(d.get("output_bytes", 0)),
        macs=int(d.get("mult_adds", 0)),
        # No module, so no per-parameter rows (verbose=2 shows none).
        _inner_layers={},
    )
    for name in OPTIONAL_ROW_FIELDS:
        if name in d:
            _set_value(row, name, d[name])
    return row


def _enum_or_none(enum: type, value: Any, what: str, source: str) -> Any:
    try:
        return enum(value)
    except ValueError:
        warnings.warn(
            f"{source}: {what} {value!r} is unknown to this summarytool version and is left out of the table.",
            stacklevel=4,
        )
        return None


def _engine_object(values: Any, module: str, name: str) -> Any:
    """A saved report as the engine's dataclass (attributes, as the renderers read them); from another
    engine version that this one cannot build, a namespace with the same fields."""
    if not isinstance(values, Mapping):
        return values
    try:
        return getattr(importlib.import_module(module), name).from_dict(dict(values))
    except (ImportError, AttributeError, TypeError):
        return _namespace(values)


def _namespace(values: Mapping[str, Any]) -> SimpleNamespace:
    return SimpleNamespace(**{k: _namespace(v) if isinstance(v, Mapping) else v for k, v in values.items()})


def _as_is(values: Any) -> Any:
    return values


_LOADERS = {
    "memory": functools.partial(_engine_object, module="summarytool.capture.memory", name="MemoryReport"),
    "measured_memory": functools.partial(
        _engine_object, module="summarytool.capture.measured", name="MeasuredMemory"
    ),
}


def summary_from_dict(data: Mapping[str, Any], source: str = "the summary") -> ModelStatistics:
    """A ModelStatistics rebuilt from `summary_to_dict` output: it prints, diffs and re-exports the same."""
    from summarytool.analysis.hierarchy import link_rows
    from summarytool.formatting import FormattingOptions
    from summarytool.model_statistics import ModelStatistics

    check_schema(data, source)
    settings = data["settings"]
    totals = data["totals"]
    rows = [_row_from_dict(d, i, source) for i, d in enumerate(data["rows"])]
    saved_index = [r.depth_index for r in rows]
    link_rows(rows)  # subtree extents, leftover params and leaf mult-adds, from the row values alone
    by_index = {i: r for i, r in enumerate(rows)}
    for i, (row, d) in enumerate(zip(rows, data["rows"], strict=True)):
        row.depth_index = saved_index[i]
        parent = d.get("parent")
        row.parent_info = by_index.get(parent) if isinstance(parent, int) else None

    cols = [_enum_or_none(parse_column, c, "column", source) for c in settings.get("col_names", [])]
    row_cfg = [
        _enum_or_none(parse_row_setting, r, "row setting", source) for r in settings.get("row_settings", [])
    ]
    fmt = FormattingOptions(
        int(settings.get("max_depth", 3)),
        int(settings.get("verbose", 1)),
        [c for c in cols if c is not None],
        int(settings.get("col_width", 25)),
        [r for r in row_cfg if r is not None],
    )
    fmt.params_count_units = Units(settings.get("params_count_units", ""))
    fmt.params_size_units = Units(settings.get("params_size_units", "auto"))
    fmt.macs_units = Units(settings.get("macs_units", "auto"))
    fmt.layer_name_width = int(settings.get("layer_name_width", fmt.layer_name_width))

    # Built empty (so every attribute the engine defines exists), then filled with the saved rows and totals.
    stats = ModelStatistics([], settings.get("input_size") or [], totals.get("total_input"), fmt)
    stats.summary_list = rows
    stats.total_input = totals.get("total_input")
    stats.total_mult_adds = int(totals.get("total_mult_adds", 0))
    stats.total_output_bytes = int(totals.get("total_output_bytes", 0))
    stats.total_params = int(totals.get("total_params", 0))
    stats.trainable_params = int(totals.get("trainable_params", 0))
    stats.total_param_bytes = int(totals.get("total_param_bytes", 0))
    for name in OPTIONAL_TOTAL_FIELDS:
        if name in totals:
            _set_value(stats, name, totals[name])
    for name in OPTIONAL_SUMMARY_OBJECTS:
        if name in data:
            _set_value(stats, name, _LOADERS.get(name, _as_is)(data[name]))
    if "run" in settings:
        stats.run_settings = dict(settings["run"])
    stats.loaded_versions = dict(data.get("versions") or {})
    return stats
