"""Issue 15 item 12: corrupted summary JSON is a SchemaError naming the field, never a crash.

`ModelStatistics.from_json`/`from_dict` and `summarytool diff` read files a user (or an attacker) may
have edited. Whatever the file holds, the loader either rebuilds a summary that prints and exports, or
raises `SchemaError` with the JSON path of the bad field (`rows[3].params`); `diff` exits 2 with one
message and no traceback, and its JSON output is always strict JSON (no NaN/Infinity).
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from summarytool import ModelStatistics, summary
from summarytool.cli import main
from summarytool.render.diff import diff_summaries, diff_to_json, diff_to_markdown, diff_to_text
from summarytool.schema import SchemaError


class Small(nn.Module):
    def __init__(self, hidden: int = 4) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(3, hidden), nn.ReLU())
        self.head = nn.Linear(hidden, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


_BASE: dict[str, Any] = {}


def base() -> dict[str, Any]:
    """A fresh copy of a valid summary dict (the model is summarised once per test session)."""
    if not _BASE:
        _BASE.update(summary(Small(), input_size=(2, 3), verbose=0).to_dict())
    return copy.deepcopy(_BASE)


def load_everything(data: Any) -> None:
    """What a user does with a loaded summary: print it, export it, diff it."""
    stats = ModelStatistics.from_dict(data)
    str(stats)
    stats.to_markdown()
    stats.to_csv()
    stats.to_html(element_id="x")
    stats.to_json()
    result = diff_summaries(base(), data)
    json.loads(diff_to_json(result))
    diff_to_text(result)
    diff_to_markdown(result)


# ----- each corruption the issue names ---------------------------------------------------------


def _set(data: dict, path: tuple, value: Any) -> dict:
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return data


CORRUPTIONS = [
    (("rows", 1), 5, r"rows\[1\]"),
    (("rows", 1), None, r"rows\[1\]"),
    (("rows", 1, "params"), None, r"rows\[1\]\.params"),
    (("rows", 2, "trainable_params"), "12", r"rows\[2\]\.trainable_params"),
    (("rows", 1, "depth"), "1", r"rows\[1\]\.depth"),
    (("rows", 1, "depth"), -1, r"rows\[1\]\.depth"),
    (("rows", 1, "depth"), 10**9, r"rows\[1\]\.depth"),
    (("rows", 1, "params"), 10**30, r"rows\[1\]\.params"),
    (("rows", 1, "params"), 1.5, r"rows\[1\]\.params"),
    (("rows", 1, "params"), True, r"rows\[1\]\.params"),
    (("rows", 1, "mult_adds"), [], r"rows\[1\]\.mult_adds"),
    (("rows", 1, "class_name"), 7, r"rows\[1\]\.class_name"),
    (("rows", 1, "name"), None, r"rows\[1\]\.name"),
    (("rows", 1, "is_leaf"), "false", r"rows\[1\]\.is_leaf"),
    (("rows", 1, "parent"), "0", r"rows\[1\]\.parent"),
    (("rows", 1, "flops"), "many", r"rows\[1\]\.flops"),
    (("rows", 1, "kernel_size"), {"a": 1}, r"rows\[1\]\.kernel_size"),
    (("rows", 1, "output_size"), 3, r"rows\[1\]\.output_size"),
    (("settings", "col_width"), 10**12, r"settings\.col_width"),
    (("settings", "col_width"), "25", r"settings\.col_width"),
    (("settings", "max_depth"), "3", r"settings\.max_depth"),
    (("settings", "verbose"), 9, r"settings\.verbose"),
    (("settings", "col_names"), "output_size", r"settings\.col_names"),
    (("settings", "col_names"), [1], r"settings\.col_names\[0\]"),
    (("settings", "params_size_units"), "furlongs", r"settings\.params_size_units"),
    (("settings", "layer_name_width"), 10**15, r"settings\.layer_name_width"),
    (("settings", "input_size"), 3, r"settings\.input_size"),
    (("settings", "run"), [1], r"settings\.run"),
    (("totals", "total_params"), "x", r"totals\.total_params"),
    (("totals", "total_input"), None, r"totals\.total_input"),  # an input was given: it has a size
    (("totals", "total_mult_adds"), 2**70, r"totals\.total_mult_adds"),
    (("versions",), [1, 2], r"versions"),
    (("model",), 3, r"model"),
    (("flops_by_op",), {"aten.mm": "x"}, r"flops_by_op\.aten\.mm|flops_by_op\['aten\.mm'\]"),
    (("flops_uncounted",), [1], r"flops_uncounted"),
    (("memory",), {"optimizer": 1}, r"memory"),
    (("memory",), 5, r"memory"),
    (("measured_memory",), {"device": "cpu"}, r"measured_memory"),
]


@pytest.mark.parametrize(("path", "value", "where"), CORRUPTIONS, ids=[repr(c[:2]) for c in CORRUPTIONS])
def test_each_corruption_is_a_schema_error_naming_the_field(path: tuple, value: Any, where: str) -> None:
    data = _set(base(), path, value)
    with pytest.raises(SchemaError, match=where):
        ModelStatistics.from_dict(data)
    # Through JSON text too (the same message).
    with pytest.raises(SchemaError, match=where):
        ModelStatistics.from_json(json.dumps(data))


def test_a_valid_summary_still_round_trips() -> None:
    data = base()
    stats = ModelStatistics.from_json(json.dumps(data))
    assert stats.to_dict()["rows"] == data["rows"]
    load_everything(data)


@pytest.mark.parametrize(
    "text",
    [
        '{"schema": "summarytool.summary/1", "rows": [], "totals": {"total_params": ' + "9" * 5000 + "}}",
        '{"schema": "summarytool.summary/1", "rows": [' + "[" * 200_000 + "]" * 200_000 + "]}",
        '{"schema": "summarytool.summary/1", "rows": [], "totals": {"total_params": NaN}, "settings": {}}',
        '{"schema": "summarytool.summary/1", "rows": [], "totals": {"total_params": Infinity}, "settings": {}}',
        '{"schema": "summarytool.summary/1", "rows": [], "totals": {"total_params": 1e400}, "settings": {}}',
    ],
    ids=["5000-digit int", "200k-deep nesting", "NaN", "Infinity", "1e400"],
)
def test_hostile_json_text_is_a_schema_error(text: str) -> None:
    with pytest.raises(SchemaError):
        ModelStatistics.from_json(text)


def test_deep_nesting_inside_a_dict_is_a_schema_error() -> None:
    data = base()
    deep: list = []
    for _ in range(5000):
        deep = [deep]
    data["rows"][1]["input_size"] = deep
    with pytest.raises(SchemaError, match=r"rows\[1\]\.input_size"):
        ModelStatistics.from_dict(data)


def test_a_cycle_is_a_schema_error() -> None:
    data = base()
    loop: list = []
    loop.append(loop)
    data["rows"][1]["output_size"] = loop
    with pytest.raises(SchemaError, match=r"rows\[1\]\.output_size"):
        ModelStatistics.from_dict(data)


def test_the_message_shows_no_huge_value() -> None:
    data = _set(base(), ("rows", 1, "params"), 10**4000)
    with pytest.raises(SchemaError) as info:
        ModelStatistics.from_dict(data)
    assert len(str(info.value)) < 500


# ----- property: whatever replaces a part of a valid file, the loader only says SchemaError ------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


_ALL_PATHS: list[tuple] = []


def all_paths() -> list[tuple]:
    if not _ALL_PATHS:
        _ALL_PATHS.extend(p for p in _paths(base()) if p)
    return _ALL_PATHS


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_replaced_field_loads_or_is_a_schema_error(data: st.DataObject) -> None:
    doc = base()
    for _ in range(data.draw(st.integers(1, 3))):
        paths = _paths(doc)[1:]
        path = data.draw(st.sampled_from(paths))
        action = data.draw(st.sampled_from(["replace", "delete"]))
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        if action == "delete":
            del parent[path[-1]]
        else:
            parent[path[-1]] = data.draw(json_values)
    try:
        load_everything(doc)
    except SchemaError:
        pass
    # The same document as text (the non-finite floats become NaN/Infinity tokens).
    try:
        text = json.dumps(doc)
    except (ValueError, RecursionError):
        return
    try:
        ModelStatistics.from_json(text)
    except SchemaError:
        pass


counts = st.integers(min_value=0, max_value=2**63 - 1) | st.integers(min_value=0, max_value=1000)
well_typed_row = st.fixed_dictionaries(
    {
        "name": st.text(max_size=10),
        "class_name": st.text(max_size=10),
        "var_name": st.text(max_size=10),
        "depth": st.integers(min_value=0, max_value=1024) | st.integers(min_value=0, max_value=4),
        "params": counts,
        "trainable_params": counts,
        "mult_adds": counts,
        "param_bytes": counts,
        "output_bytes": counts,
        "is_leaf": st.booleans(),
        "is_recursive": st.booleans(),
        "parent": st.none() | st.integers(min_value=0, max_value=10),
        "depth_index": st.none() | counts,
        "own_params": st.integers(min_value=-(2**63) + 1, max_value=2**63 - 1),
        "flops": st.none() | counts,
        "output_size": st.lists(st.integers(min_value=0, max_value=2**63 - 1), max_size=4),
    }
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(well_typed_row, min_size=0, max_size=8),
    totals=st.fixed_dictionaries({"total_params": counts, "total_mult_adds": counts, "total_flops": counts}),
    max_depth=st.none() | st.integers(min_value=0, max_value=6),
)
def test_any_well_typed_values_load_print_export_and_diff(rows: list, totals: dict, max_depth: Any) -> None:
    doc = base()
    doc["rows"] = rows
    doc["totals"].update(totals)
    doc["settings"]["max_depth"] = max_depth
    load_everything(doc)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200) | st.binary(max_size=200).map(lambda b: b.decode("latin-1")))
def test_any_text_loads_or_is_a_schema_error(text: str) -> None:
    try:
        ModelStatistics.from_json("{" + text)
    except SchemaError:
        pass


# ----- the diff command ------------------------------------------------------------------------


def _write(path: Path, data: Any) -> str:
    path.write_text(json.dumps(data) if not isinstance(data, str) else data, encoding="utf-8")
    return str(path)


@pytest.mark.parametrize(
    ("path", "value", "where"),
    [c for c in CORRUPTIONS if c[0][0] in ("rows", "totals", "settings")],
    ids=[repr(c[:2]) for c in CORRUPTIONS if c[0][0] in ("rows", "totals", "settings")],
)
def test_diff_of_a_corrupted_file_exits_2_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], path: tuple, value: Any, where: str
) -> None:
    good = _write(tmp_path / "good.json", base())
    bad = _write(tmp_path / "bad.json", _set(base(), path, value))
    assert main(["diff", good, bad]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "Traceback" not in err
    assert err.startswith("summarytool diff: error: ")
    first = err.splitlines()[0]
    import re

    assert re.search(where, first), first
    assert "bad.json" in first


@pytest.mark.parametrize(
    "text",
    [
        '{"schema": "summarytool.summary/1", "rows": [], "totals": {"total_params": ' + "9" * 5000 + "}}",
        '{"schema": "summarytool.summary/1", "rows": ' + "[" * 100_000 + "]" * 100_000 + "}",
        '{"schema": "summarytool.summary/1", "rows": [], "settings": {}, "totals": {"total_params": Infinity}}',
        '{"schema": "summarytool.summary/1", "rows": [], "settings": {}, "totals": {"total_params": 1e999}}',
    ],
    ids=["5000-digit int", "deep nesting", "Infinity", "1e999"],
)
def test_diff_of_hostile_json_text_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str
) -> None:
    good = _write(tmp_path / "good.json", base())
    bad = _write(tmp_path / "bad.json", text)
    assert main(["diff", good, bad, "--format", "json"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "Traceback" not in err and err.startswith("summarytool diff: error: ")


def test_diff_json_output_is_strict_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = base()
    b = summary(Small(hidden=8), input_size=(2, 3), verbose=0).to_dict()
    assert (
        main(["diff", _write(tmp_path / "a.json", a), _write(tmp_path / "b.json", b), "--format", "json"])
        == 0
    )
    out = capsys.readouterr().out
    json.loads(out, parse_constant=lambda token: pytest.fail(f"{token} in the JSON output"))


def test_diff_to_json_never_writes_nan_or_infinity() -> None:
    # diff_summaries is a public function: an in-memory dict may hold floats that JSON cannot.
    result = diff_summaries(base(), base())
    result["totals"]["total_params"] = {"before": math.inf, "after": math.nan, "delta": -math.inf}
    text = diff_to_json(result)
    parsed = json.loads(text, parse_constant=lambda token: pytest.fail(f"{token} in the JSON output"))
    assert parsed["totals"]["total_params"] == {"before": None, "after": None, "delta": None}
