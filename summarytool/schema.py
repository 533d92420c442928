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
import json
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
OPTIONAL_ROW_FIELDS: tuple[str, ...] = (
    "flops",
    "backward_flops",
    "flops_uncounted",
    "activation_bytes",
    "first_of_repeats",
)
# Row fields that only mean something when FLOPs were counted on that row / memory was estimated.
_FLOP_ROW_FIELDS = frozenset({"backward_flops", "flops_uncounted"})
_MEMORY_ROW_FIELDS = frozenset({"activation_bytes"})
OPTIONAL_TOTAL_FIELDS: tuple[str, ...] = ("total_flops", "total_backward_flops")
# Structured measurements of the whole run: FLOPs per ATen op, ops without a formula, the
# training-step memory estimate (a MemoryReport, exported as its fields).
OPTIONAL_SUMMARY_OBJECTS: tuple[str, ...] = ("flops_by_op", "flops_uncounted", "memory", "measured_memory")


def _present(value: Any) -> bool:
    return value is not None and value is not False and not (isinstance(value, (dict, list)) and not value)


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
        "own_params": row.own_params(),
        "own_trainable_params": row.own_trainable_params(),
        "param_bytes": row.param_bytes,
        "output_bytes": row.output_bytes,
        "mult_adds": row.macs,
        "leaf_mult_adds": row.subtree_macs(),
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
        "max_depth": None if fmt.max_depth == math.inf else fmt.max_depth,  # null: every level
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


# Bounds a summary's numbers must keep. Counts (params, bytes, mult-adds, FLOPs) fit in a signed
# 64-bit integer; a tree deeper than Python's recursion limit cannot have been summarised; the text
# table pads every row to its widths, so they are bounded too (summary()'s --col-width limit).
MAX_COUNT = 2**63 - 1
MAX_TREE_DEPTH = 1024
MAX_NESTING = 64  # arrays/objects inside one another, anywhere in the file
MAX_COL_WIDTH = 1000
MAX_NAME_WIDTH = 10_000
MAX_SUMMARY_BYTES = 256 * 1024 * 1024


class _BadNumber(str):
    """A number token JSON text holds that no summary field can: NaN, Infinity, 1e400, a 5000-digit int."""


def _parse_int(token: str) -> int | _BadNumber:
    # Bounded before int(): Python refuses (ValueError) ints of more than 4,300 digits, slowly.
    return int(token) if len(token.lstrip("-")) <= 19 else _BadNumber(token)


def _parse_float(token: str) -> float | _BadNumber:
    value = float(token) if len(token) <= 64 else math.inf
    return value if math.isfinite(value) else _BadNumber(token)


def load_json_text(text: str, source: str) -> Any:
    """JSON text as Python values, every failure a SchemaError (NaN/Infinity and oversized numbers are
    kept as markers, so that check_schema names the field that holds them)."""
    if len(text) > MAX_SUMMARY_BYTES:
        raise SchemaError(
            f"{source} is larger than {MAX_SUMMARY_BYTES // 2**20} MiB; it is not a summary file."
        )
    try:
        return json.loads(text, parse_int=_parse_int, parse_float=_parse_float, parse_constant=_BadNumber)
    except RecursionError:
        raise SchemaError(
            f"{source}: arrays or objects are nested too deeply (a summary nests at most {MAX_NESTING} levels)."
        ) from None
    except (ValueError, MemoryError) as exc:  # json.JSONDecodeError is a ValueError
        raise SchemaError(f"{source} is not JSON ({str(exc)[:200]}); was it written by to_json()?") from None


def _key_path(path: str, key: Any) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    if isinstance(key, str) and key.isidentifier():
        return f"{path}.{key}" if path else key
    return f"{path}[{_short(key)}]"


def _short(value: Any) -> str:
    text = repr(value if not isinstance(value, str) else str(value))
    return text if len(text) <= 60 else text[:57] + "..."


def _describe(value: Any) -> str:
    """What a bad value is, in a few words (never the whole of a huge value)."""
    if isinstance(value, _BadNumber):
        return (
            f"the number {_short(str(value)[:40])}"
            if len(value) <= 40
            else f"a number of {len(value)} digits"
        )
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int):
        return (
            f"the integer {value}"
            if value.bit_length() <= 128
            else f"an integer of {value.bit_length()} bits"
        )
    if isinstance(value, float):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the string {_short(value)}"
    if isinstance(value, Mapping):
        return f"an object of {len(value)} keys"
    if isinstance(value, (list, tuple)):
        return f"an array of {len(value)} items"
    return f"a {type(value).__name__}"


# Totals that are null when not measured (no input, no FLOPs); the others are always numbers.
_NULLABLE_TOTALS = frozenset({"estimated_total_bytes", "total_flops", "total_backward_flops"})


class _Checker:
    """Checks one summary dict, raising SchemaError with the JSON path of the first bad field."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, path: str, value: Any, expected: str) -> None:
        raise SchemaError(
            f"{self.source}: {path} is {_describe(value)}, expected {expected}; the file is corrupted or was "
            "edited: re-create it with stats.to_json(path) or `summarytool summary ... --format json`."
        )

    def tree(self, value: Any, path: str) -> None:
        """Only JSON values (finite numbers, string keys), nested at most MAX_NESTING deep (cycles too)."""
        stack: list[tuple[Any, str, int]] = [(value, path, 0)]
        while stack:
            item, where, depth = stack.pop()
            if isinstance(item, _BadNumber):
                self.fail(where, item, "a finite number that fits in 64 bits")
            if item is None or isinstance(item, (bool, str)):
                continue
            if isinstance(item, int):
                if abs(item) > 2**64:
                    self.fail(where, item, "a number that fits in 64 bits")
                continue
            if isinstance(item, float):
                if not math.isfinite(item):
                    self.fail(where, item, "a finite number (JSON has no NaN or Infinity)")
                continue
            if depth >= MAX_NESTING:
                self.fail(where, item, f"a value nested at most {MAX_NESTING} levels deep")
            if isinstance(item, Mapping):
                for k, v in item.items():
                    if not isinstance(k, str):
                        self.fail(where, k, "an object with string keys")
                    stack.append((v, _key_path(where, k), depth + 1))
            elif isinstance(item, (list, tuple)):
                stack.extend((v, _key_path(where, i), depth + 1) for i, v in enumerate(item))
            else:
                self.fail(where, item, "a JSON value")

    def integer(
        self,
        obj: Mapping[str, Any],
        key: str,
        path: str,
        *,
        low: int = 0,
        high: int = MAX_COUNT,
        null: bool = False,
        required: bool = False,
    ) -> None:
        if key not in obj:
            if required:
                self.fail(_key_path(path, key), None, "an integer (the key is missing)")
            return
        value = obj[key]
        if value is None and null:
            return
        ok = isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
        if not ok:
            self.fail(
                _key_path(path, key),
                value,
                f"an integer from {low:,} to {high:,}" + (" or null" if null else ""),
            )

    def kind(
        self,
        obj: Mapping[str, Any],
        key: str,
        path: str,
        kinds: tuple[type, ...],
        expected: str,
        *,
        null: bool = False,
        required: bool = False,
    ) -> None:
        if key not in obj:
            if required:
                self.fail(_key_path(path, key), None, f"{expected} (the key is missing)")
            return
        value = obj[key]
        if value is None and null:
            return
        if not isinstance(value, kinds) or (bool not in kinds and isinstance(value, bool)):
            self.fail(_key_path(path, key), value, expected + (" or null" if null else ""))

    def strings(self, obj: Mapping[str, Any], key: str, path: str) -> None:
        self.kind(obj, key, path, (list, tuple), "an array of strings")
        for i, item in enumerate(obj.get(key) or ()):
            if not isinstance(item, str):
                self.fail(f"{_key_path(path, key)}[{i}]", item, "a string")

    def counts(self, obj: Mapping[str, Any], key: str, path: str) -> None:
        """An object of name -> count (flops_by_op, flops_uncounted)."""
        self.kind(obj, key, path, (Mapping,), "an object of counts")
        for name, value in (obj.get(key) or {}).items():
            self.integer({name: value}, name, _key_path(path, key))

    def row(self, row: Any, path: str) -> None:
        if not isinstance(row, Mapping):
            self.fail(path, row, "a row object")
        missing = [k for k in _ROW_KEYS if k not in row]
        if missing:
            raise SchemaError(
                f"{self.source}: {path}: row {path[5:-1]} lacks {missing}; the file is truncated or edited."
            )
        for key in ("name", "class_name"):
            self.kind(row, key, path, (str,), "a string", required=True)
        self.kind(row, "var_name", path, (str,), "a string")
        self.integer(row, "depth", path, high=MAX_TREE_DEPTH, required=True)
        for key in ("params", "trainable_params"):
            self.integer(row, key, path, required=True)
        for key in (
            "param_bytes",
            "output_bytes",
            "mult_adds",
            "leaf_mult_adds",
            "flops_uncounted",
            "activation_bytes",
        ):
            self.integer(row, key, path)
        # A container's own params can be negative (tied weights counted in two children).
        for key in ("own_params", "own_trainable_params"):
            self.integer(row, key, path, low=-MAX_COUNT)
        for key in ("index", "parent", "depth_index", "groups", "flops", "backward_flops"):
            self.integer(row, key, path, null=True)
        for key in ("is_leaf", "is_recursive", "executed", "first_of_repeats"):
            self.kind(row, key, path, (bool,), "true or false")
        for key in ("input_size", "output_size"):
            self.kind(row, key, path, (list, tuple), "an array of sizes", null=True)
        kernel = row.get("kernel_size")
        if isinstance(kernel, (list, tuple)):
            for i, k in enumerate(kernel):
                if not isinstance(k, int) or isinstance(k, bool) or not 0 <= k <= MAX_COUNT:
                    self.fail(f"{_key_path(path, 'kernel_size')}[{i}]", k, "an integer")
        else:
            self.integer(row, "kernel_size", path, null=True)

    def memory(self, report: Any, path: str) -> None:
        if not isinstance(report, Mapping):
            self.fail(path, report, "an object (the training-step memory report)")
        self.kind(report, "optimizer", path, (str,), "a string", required=True)
        for key in ("peak_bytes", "parameters", "gradients", "optimizer_state", "activations"):
            self.integer(report, key, path, required=True)
        self.kind(report, "device", path, (str,), "a string")
        self.integer(report, "measured_peak_bytes", path, null=True)
        self.strings(report, "notes", path)

    def measured(self, report: Any, path: str) -> None:
        if not isinstance(report, Mapping):
            self.fail(path, report, "an object (the measured memory)")
        for key in ("device", "method"):
            self.kind(report, key, path, (str,), "a string", required=True)
        for key in ("in_use_before_bytes", "forward_peak_bytes"):
            self.integer(report, key, path, required=True)
        if report.get("train_step") is not None:
            self.memory(report["train_step"], _key_path(path, "train_step"))

    def settings(self, settings: Mapping[str, Any]) -> None:
        path = "settings"
        self.kind(settings, "input_size", path, (list, tuple), "an array of input shapes", null=True)
        self.integer(settings, "max_depth", path, high=MAX_TREE_DEPTH * 1024, null=True)  # null: every level
        self.integer(settings, "verbose", path, high=2)
        self.integer(settings, "col_width", path, low=1, high=MAX_COL_WIDTH)
        self.integer(settings, "layer_name_width", path, low=1, high=MAX_NAME_WIDTH)
        self.strings(settings, "col_names", path)
        self.strings(settings, "row_settings", path)
        for key in ("params_count_units", "params_size_units", "macs_units"):
            if key in settings:
                try:
                    Units(settings[key])
                except (ValueError, TypeError):
                    units = ", ".join(repr(u.value) for u in Units)
                    self.fail(_key_path(path, key), settings[key], f"one of {units}")
        self.kind(settings, "run", path, (Mapping,), "an object")

    def totals(self, totals: Mapping[str, Any], has_input: bool) -> None:
        for key in (
            "total_params",
            "trainable_params",
            "non_trainable_params",
            "total_mult_adds",
            "total_output_bytes",
            "total_param_bytes",
            "estimated_total_bytes",
            "total_flops",
            "total_backward_flops",
        ):
            low = -MAX_COUNT if key == "non_trainable_params" else 0
            self.integer(totals, key, "totals", low=low, null=key in _NULLABLE_TOTALS)
        self.integer(totals, "total_input", "totals", null=not has_input, required=has_input)

    def summary(self, data: Mapping[str, Any]) -> None:
        self.tree(data, "")
        self.kind(data, "model", "", (str,), "a string", null=True)
        self.kind(data, "versions", "", (Mapping,), "an object", null=True)
        self.settings(data["settings"])
        self.totals(data["totals"], bool(data["settings"].get("input_size")))
        self.counts(data, "flops_by_op", "")
        self.counts(data, "flops_uncounted", "")
        if data.get("memory") is not None:
            self.memory(data["memory"], "memory")
        if data.get("measured_memory") is not None:
            self.measured(data["measured_memory"], "measured_memory")
        for i, row in enumerate(data["rows"]):
            self.row(row, f"rows[{i}]")


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
    _Checker(source).summary(data)


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


def summary_from_dict(
    data: Mapping[str, Any], source: str = "the summary", *, make: type[ModelStatistics]
) -> ModelStatistics:
    """A summary rebuilt from `summary_to_dict` output: it prints, diffs and re-exports the same.

    `make` is the class to build (ModelStatistics.from_dict passes its own), so this module, which
    sits below ModelStatistics, never imports it.
    """
    from summarytool.analysis.hierarchy import link_rows
    from summarytool.formatting import FormattingOptions

    check_schema(data, source)
    settings = data["settings"]
    totals = data["totals"]
    rows = [_row_from_dict(d, i, source) for i, d in enumerate(data["rows"])]
    saved_index = [r.depth_index for r in rows]
    link_rows(rows)  # subtree extents, leftover params and leaf mult-adds, from the row values alone
    by_index = {i: r for i, r in enumerate(rows)}
    for i, (row, d) in enumerate(zip(rows, data["rows"], strict=True)):
        row.depth_index = saved_index[i]
        if not row.is_leaf_layer:  # saved as computed: a loaded row has no module to tell repeats by
            row._leftover = int(d.get("own_params", row._leftover))
            row._leftover_trainable = int(d.get("own_trainable_params", row._leftover_trainable))
        parent = d.get("parent")
        row.parent_info = by_index.get(parent) if isinstance(parent, int) else None

    cols = [_enum_or_none(parse_column, c, "column", source) for c in settings.get("col_names", [])]
    row_cfg = [
        _enum_or_none(parse_row_setting, r, "row setting", source) for r in settings.get("row_settings", [])
    ]
    fmt = FormattingOptions(
        math.inf if settings.get("max_depth", 3) is None else int(settings.get("max_depth", 3)),
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
    stats = make([], settings.get("input_size") or [], totals.get("total_input"), fmt)
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
