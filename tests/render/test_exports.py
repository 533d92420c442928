"""ModelStatistics exports: the versioned dict, JSON/CSV/Markdown/HTML/pandas, and loading them back."""

from __future__ import annotations

import csv
import io
import json
import re
import sys
from html.parser import HTMLParser

import pytest
import torch
from torch import nn

import summarytool
from summarytool import ModelStatistics, summary
from summarytool.render.html import black_holes
from summarytool.schema import SCHEMA, SchemaError


class Stem(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 6, kernel_size=3, padding=1)
        self.norm = nn.BatchNorm2d(6)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.norm(self.conv(x)))


class Catalogue(nn.Module):
    """Nested stem, a ModuleList looped over, a module called twice, a frozen layer and one huge Linear."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = Stem()
        self.blocks = nn.ModuleList(nn.Conv2d(6, 6, kernel_size=1) for _ in range(2))
        self.shared = nn.Conv2d(6, 6, kernel_size=1, groups=3)
        self.pool = nn.AdaptiveAvgPool2d(4)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(96, 512), nn.ReLU(), nn.Linear(512, 10))
        self.head[3].requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for block in self.blocks:
            x = block(x)
        x = self.shared(self.shared(x))
        return self.head(self.pool(x))


class TwoInputs(nn.Module):
    """Token ids (long) and a float feature vector; a ModuleDict key with a pipe in it."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(20, 8)
        self.parts = nn.ModuleDict({"a|b": nn.Linear(8, 4)})
        self.side = nn.Linear(3, 4)

    def forward(self, tokens: torch.Tensor, feats: torch.Tensor) -> torch.Tensor:
        return self.parts["a|b"](self.embed(tokens)).mean(1) + self.side(feats)


def catalogue_stats(**kwargs: object) -> ModelStatistics:
    return summary(Catalogue(), input_size=(2, 3, 8, 8), verbose=0, **kwargs)


def row_named(data: dict, name: str) -> dict:
    (row,) = [r for r in data["rows"] if r["name"] == name]
    return row


# ----- to_dict -------------------------------------------------------------------------------


def test_to_dict_is_the_documented_versioned_schema() -> None:
    stats = catalogue_stats(depth=2, col_names=("output_size", "num_params", "mult_adds"))
    data = stats.to_dict()
    assert data["schema"] == SCHEMA == "summarytool.summary/1"
    assert data["versions"]["torch"] == torch.__version__
    assert data["versions"]["summarytool"] == summarytool.__version__
    assert data["model"] == "Catalogue"
    assert list(data)[:5] == ["schema", "versions", "model", "settings", "totals"]
    assert list(data)[-1] == "rows"
    settings = data["settings"]
    assert settings["input_size"] == [[2, 3, 8, 8]]
    assert settings["max_depth"] == 2
    assert settings["col_names"] == ["output_size", "num_params", "mult_adds"]
    assert settings["row_settings"] == ["depth"]
    totals = data["totals"]
    assert totals["total_params"] == stats.total_params
    assert totals["trainable_params"] == stats.trainable_params
    assert totals["non_trainable_params"] == 512 * 10 + 10
    assert totals["total_mult_adds"] == stats.total_mult_adds
    assert (
        totals["estimated_total_bytes"]
        == stats.total_input + stats.total_output_bytes + stats.total_param_bytes
    )
    # Every row, at every depth, whatever the display depth.
    assert len(data["rows"]) == len(stats.summary_list)
    assert [r["index"] for r in data["rows"]] == list(range(len(stats.summary_list)))
    fc = row_named(data, "head.1")
    assert fc["class_name"] == "Linear"
    assert fc["depth"] == 2
    assert fc["input_size"] == [2, 96]
    assert fc["output_size"] == [2, 512]
    assert fc["params"] == fc["own_params"] == fc["trainable_params"] == 96 * 512 + 512
    assert fc["mult_adds"] == 2 * (96 * 512 + 512)  # torchinfo's rule: params x batch
    assert data["rows"][fc["parent"]]["name"] == "head"
    frozen = row_named(data, "head.3")
    assert frozen["trainable_params"] == 0 and frozen["params"] == 5130
    head = row_named(data, "head")
    assert head["is_leaf"] is False
    assert head["params"] == fc["params"] + frozen["params"]
    assert head["own_params"] == 0
    assert head["leaf_mult_adds"] == fc["mult_adds"] + frozen["mult_adds"]
    conv = row_named(data, "stem.conv")
    assert conv["kernel_size"] == [3, 3] and conv["groups"] == 1
    shared = [r for r in data["rows"] if r["name"] == "shared"]
    assert [r["is_recursive"] for r in shared] == [False, True]
    # Strict JSON: no NaN, no objects.
    json.dumps(data, allow_nan=False)


def test_rows_and_totals_carry_flops_only_when_counted() -> None:
    plain = catalogue_stats().to_dict()
    assert all("flops" not in r for r in plain["rows"])
    assert "total_flops" not in plain["totals"]
    stats = catalogue_stats(col_names=("output_size", "num_params", "flops"))
    counted = stats.to_dict()
    fc = row_named(counted, "head.1")
    engine_row = next(r for r in stats.summary_list if r.qualified_name == "head.1")
    assert fc["flops"] == engine_row.flops >= 2 * 2 * 96 * 512  # a multiply and an add per MAC at least
    assert fc["backward_flops"] == 2 * fc["flops"]
    assert counted["totals"]["total_flops"] == counted["rows"][0]["flops"]
    assert counted["totals"]["total_backward_flops"] == 2 * counted["totals"]["total_flops"]
    assert sum(counted["flops_by_op"].values()) == counted["totals"]["total_flops"]


def test_training_step_memory_is_exported_and_loads_back() -> None:
    plain = catalogue_stats().to_dict()
    assert "memory" not in plain and all("activation_bytes" not in r for r in plain["rows"])
    stats = catalogue_stats(col_names=("output_size", "num_params", "activation_memory"), train_step="sgd")
    data = stats.to_dict()
    assert data["memory"]["optimizer"] == "sgd"
    assert data["memory"]["peak_bytes"] == stats.memory.peak_bytes > 0
    engine_rows = {r.qualified_name: r.activation_bytes for r in stats.summary_list}
    assert {r["name"]: r["activation_bytes"] for r in data["rows"]} == engine_rows
    loaded = ModelStatistics.from_json(stats.to_json())
    assert str(loaded) == str(stats)  # the footer's memory lines included
    assert loaded.to_dict() == data
    assert "Training step (sgd) peak, estimated" in loaded.to_markdown()


# ----- round trips -----------------------------------------------------------------------------


ROUND_TRIPS = {
    "default": {},
    "depth1": {"depth": 1},
    "every_torchinfo_column": {
        "col_names": (
            "input_size",
            "output_size",
            "num_params",
            "params_percent",
            "kernel_size",
            "groups",
            "mult_adds",
            "trainable",
        ),
        "row_settings": ("var_names", "depth", "ascii_only"),
    },
    "hide_recursive": {"row_settings": ("hide_recursive_layers",), "depth": 5},
    "flops": {"col_names": ("output_size", "num_params", "flops", "backward_flops")},
}


@pytest.mark.parametrize("name", ROUND_TRIPS)
def test_from_dict_prints_and_exports_exactly_as_the_original(name: str, tmp_path) -> None:
    kwargs = ROUND_TRIPS[name]
    stats = catalogue_stats(**kwargs)
    data = stats.to_dict()
    loaded = ModelStatistics.from_dict(data)
    assert isinstance(loaded, ModelStatistics)
    assert str(loaded) == str(stats)
    assert loaded.to_dict() == data
    assert loaded.to_csv() == stats.to_csv()
    assert loaded.to_markdown() == stats.to_markdown()
    assert loaded.to_html(element_id="x") == stats.to_html(element_id="x")
    assert all(row.module is None for row in loaded.summary_list)
    # Through a file and through JSON text.
    path = tmp_path / "s.json"
    text = stats.to_json(path)
    assert path.read_text(encoding="utf-8") == text
    assert str(ModelStatistics.from_json(path)) == str(stats)
    assert ModelStatistics.from_json(text).to_dict() == data


def test_round_trip_of_a_static_summary_and_of_several_inputs() -> None:
    static = summary(Catalogue(), verbose=0)
    assert static.to_dict()["totals"]["total_input"] is None
    assert str(ModelStatistics.from_dict(static.to_dict())) == str(static)
    two = summary(TwoInputs(), input_size=[(2, 5), (2, 3)], dtypes=[torch.long, torch.float], verbose=0)
    data = two.to_dict()
    assert data["settings"]["input_size"] == [[2, 5], [2, 3]]
    assert data["rows"][0]["input_size"] == two.summary_list[0].input_size
    assert str(ModelStatistics.from_dict(json.loads(json.dumps(data)))) == str(two)


def test_loading_tells_what_is_wrong_with_the_file(tmp_path) -> None:
    data = catalogue_stats().to_dict()
    with pytest.raises(SchemaError, match=r"'summarytool\.env/1', not 'summarytool\.summary/1'"):
        ModelStatistics.from_dict({**data, "schema": "summarytool.env/1"})
    with pytest.raises(SchemaError, match="Upgrade summarytool"):
        ModelStatistics.from_dict({**data, "schema": "summarytool.summary/2"})
    with pytest.raises(SchemaError, match="no 'rows' list"):
        ModelStatistics.from_dict({k: v for k, v in data.items() if k != "rows"})
    broken_row = {k: v for k, v in data["rows"][1].items() if k != "params"}
    with pytest.raises(SchemaError, match=r"row 1 lacks \['params'\]"):
        ModelStatistics.from_dict({**data, "rows": [data["rows"][0], broken_row]})
    with pytest.raises(SchemaError, match="not a summary dict"):
        ModelStatistics.from_dict([1, 2])  # type: ignore[arg-type]
    with pytest.raises(FileNotFoundError, match="to_json"):
        ModelStatistics.from_json(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("not json", encoding="utf-8")
    with pytest.raises(SchemaError, match="is not JSON"):
        ModelStatistics.from_json(bad)


# ----- CSV, Markdown, pandas -------------------------------------------------------------------


def test_csv_has_one_line_per_row_with_json_shapes(tmp_path) -> None:
    stats = catalogue_stats()
    path = tmp_path / "rows.csv"
    text = stats.to_csv(path)
    assert path.read_text(encoding="utf-8") == text
    records = list(csv.DictReader(io.StringIO(text)))
    assert len(records) == len(stats.summary_list)
    assert list(records[0])[:5] == ["index", "name", "class_name", "var_name", "depth"]
    fc = next(r for r in records if r["name"] == "head.1")
    assert fc["class_name"] == "Linear"
    assert int(fc["params"]) == 96 * 512 + 512
    assert json.loads(fc["output_size"]) == [2, 512]
    assert fc["kernel_size"] == ""  # None is an empty cell
    assert records[0]["parent"] == "" and records[1]["parent"] == "0"


def test_markdown_is_a_github_table_with_escaped_cells() -> None:
    stats = summary(
        TwoInputs(), input_size=[(2, 5), (2, 3)], dtypes=[torch.long, torch.float], verbose=0, depth=1
    )
    text = stats.to_markdown()
    lines = text.splitlines()
    assert lines[0] == "| Layer | Name | Output Shape | Param # |"
    assert lines[1] == "| --- | --- | --- | ---: |"
    table = lines[2 : lines.index("")]
    assert len(table) == 4  # the root and the three depth-1 rows
    assert "`parts`" in text and "ModuleDict" in text
    deep = summary(
        TwoInputs(), input_size=[(2, 5), (2, 3)], dtypes=[torch.long, torch.float], verbose=0
    ).to_markdown()
    # The pipe in the ModuleDict key cannot break the table, and no-break spaces keep the tree indent.
    assert "`parts.a\\|b`" in deep
    assert "│\u00a0\u00a0\u00a0\u00a0└─Linear" in deep
    table_lines = deep.split("\n\n")[0].splitlines()
    assert len(table_lines) == 7 and all(len(re.findall(r"(?<!\\)\|", line)) == 5 for line in table_lines)
    assert "| Total params | 212 |" in deep


def test_dataframe_matches_the_csv_columns() -> None:
    pd = pytest.importorskip("pandas")
    stats = catalogue_stats()
    frame = stats.to_dataframe()
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == next(csv.reader(io.StringIO(stats.to_csv())))
    assert len(frame) == len(stats.summary_list)
    assert frame.loc[frame["name"] == "head.1", "params"].item() == 96 * 512 + 512
    assert frame.loc[frame["name"] == "head.1", "output_size"].item() == [2, 512]


def test_dataframe_without_pandas_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas -> ImportError
    with pytest.raises(ImportError, match="pip install pandas"):
        catalogue_stats().to_dataframe()


# ----- HTML (structure; tests/render/test_html_browser.py renders it) ---------------------------------


class _Cells(HTMLParser):
    """Rows of <tbody> and <tfoot> as lists of (tag, attrs, text) cells."""

    def __init__(self) -> None:
        super().__init__()
        self.section = ""
        self.rows: dict[str, list[dict]] = {"tbody": [], "tfoot": []}
        self.cell: dict | None = None
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append(tag)
        a = dict(attrs)
        if tag in ("tbody", "tfoot"):
            self.section = tag
        elif tag == "tr" and self.section:
            self.rows[self.section].append({"attrs": a, "cells": []})
        elif tag in ("td", "th") and self.section:
            self.cell = {"attrs": a, "text": ""}
            self.rows[self.section][-1]["cells"].append(self.cell)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("tbody", "tfoot"):
            self.section = ""
        elif tag in ("td", "th"):
            self.cell = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell["text"] += data


def test_html_is_a_real_table_with_no_scripts_or_downloads() -> None:
    stats = catalogue_stats(depth=2)
    page = stats._repr_html_()
    assert page.startswith('<div class="st-summary" id="st-')
    assert page != stats._repr_html_()  # a fresh id each time: two outputs never share collapse state
    assert stats.to_html(element_id="fixed") == stats.to_html(element_id="fixed")
    for forbidden in ("<script", "http://", "https://", "@import", "url(", "@font-face", "─"):
        assert forbidden not in page
    # Every JupyterLab colour variable has a fallback, so the table reads outside JupyterLab too.
    uses = re.findall(r"var\(--jp-[a-z0-9-]+([,)])", page)
    assert uses and all(sep == "," for sep in uses)
    parsed = _Cells()
    parsed.feed(page)
    body = parsed.rows["tbody"]
    assert [r["attrs"]["data-name"] for r in body][:4] == ["", "stem", "stem.conv", "stem.norm"]
    assert len(body) == len([r for r in stats.summary_list if r.depth <= 2])
    fc = next(r for r in body if r["attrs"]["data-name"] == "head.1")
    params = [c for c in fc["cells"] if c["text"] == "49,664"]
    assert params and "st-num" in params[0]["attrs"]["class"]
    assert "st-hole" in fc["attrs"]["class"] and "parameter black hole" in fc["cells"][0]["text"]
    assert [r["attrs"]["data-name"] for r in body if "st-hole" in r["attrs"]["class"]] == ["head.1"]
    # Rows under a container carry its collapse class; a leaf has no toggle.
    head_pos = next(i for i, r in enumerate(body) if r["attrs"]["data-name"] == "head")
    assert f"-u{head_pos}" in fc["attrs"]["class"]
    assert page.count('type="checkbox"') == len({"", "stem", "blocks", "head"})
    totals = {r["cells"][0]["text"]: r["cells"][1]["text"] for r in parsed.rows["tfoot"]}
    assert totals["Total params"] == f"{stats.total_params:,}"
    assert totals["Non-trainable params"] == "5,130"
    assert "Estimated Total Size (kB)" in totals


def test_black_hole_is_the_deepest_row_holding_most_params() -> None:
    stats = catalogue_stats(depth=5)
    rows = stats.summary_list
    assert [rows[i].qualified_name for i in black_holes(rows, stats.total_params)] == ["head.1"]
    # Folded to depth 1, the container that holds the layer is the one to look at.
    shallow = [r for r in rows if r.depth <= 1]
    assert [shallow[i].qualified_name for i in black_holes(shallow, stats.total_params)] == ["head"]
    even = summary(nn.Sequential(nn.Linear(10, 10), nn.Linear(10, 10)), input_size=(1, 10), verbose=0)
    assert black_holes(even.summary_list, even.total_params) == set()


def test_html_shows_flops_bars_when_counted() -> None:
    page = catalogue_stats(col_names=("output_size", "num_params", "flops")).to_html(element_id="f")
    assert "Share of FLOPs" in page and "st-flops" in page
    assert "Share of FLOPs" not in catalogue_stats().to_html(element_id="g")


def test_in_a_notebook_summary_is_displayed_once_not_printed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setattr(sys, "ps1", "In : ", raising=False)  # IPython sets sys.ps1
    stats = summary(Catalogue(), input_size=(1, 3, 8, 8))
    assert capsys.readouterr().out == ""  # nothing printed...
    assert "<table" in stats._repr_html_()  # ...Jupyter displays the returned object as HTML


def test_memory_reports_from_other_engine_versions_load_and_export_as_objects() -> None:
    stats = catalogue_stats(train_step="sgd")
    data = stats.to_dict()
    assert data["memory"]["measured_peak_bytes"] is None  # schema /1 keeps every key it ever had
    data["memory"]["written_by_a_newer_engine"] = 7  # an unknown key is ignored, not an error
    loaded = ModelStatistics.from_dict(data)
    assert loaded.memory.peak_bytes == stats.memory.peak_bytes
    assert "written_by_a_newer_engine" not in loaded.to_dict()["memory"]
    assert isinstance(loaded.to_dict()["memory"], dict)
