"""Issue 15 item 14: user-controlled text (class names, ModuleDict keys, file names) in every export.

Markdown is piped into CI step summaries and pull-request comments, CSV into spreadsheets, HTML into
notebooks: a class named `<img src=x onerror=...>` or a ModuleDict key `=HYPERLINK(...)` must come out
as text. Markdown and HTML are parsed back (markdown-it-py with GFM tables, the stdlib HTML parser) and
no tag or attribute from the user's text may survive; no CSV cell may start a formula.
"""

from __future__ import annotations

import csv
import io
import json
from html.parser import HTMLParser
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from summarytool import ModelStatistics, summary
from summarytool.render.diff import diff_summaries, diff_to_markdown

markdown_it = pytest.importorskip("markdown_it")

HOSTILE = [
    "<img src=x onerror=alert(1)>",
    "<script>alert(1)</script>",
    "a|b|c",
    "[click](javascript:alert(1))",
    "![x](https://tracker.example/p.png)",
    "`code` ``x``",
    "back\\slash\\",
    "*bold* _em_ ~~s~~",
    "&lt;b&gt;entity&#60;i&#62;",
    "line\nbreak\r\nand\rcr",
    "<!-- comment -->",
    "<a href='https://evil.example'>x</a>",
    '=HYPERLINK("https://evil.example","x")',
    "+1+1",
    "-2+3",
    "@SUM(A1)",
    "\tTAB",
    "\rCR",
]


def hostile_class(name: str) -> type[nn.Module]:
    """A leaf module class whose __name__ is `name` (what the Layer column shows)."""

    def forward(self: nn.Module, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x)

    def init(self: nn.Module) -> None:
        nn.Module.__init__(self)
        self.lin = nn.Linear(2, 2)

    return type(name, (nn.Module,), {"__init__": init, "forward": forward})


class Hostile(nn.Module):
    """Children under hostile ModuleDict keys (no '.' allowed there) and of hostile classes."""

    def __init__(self, names: list[str]) -> None:
        super().__init__()
        keys = [n.replace(".", ",") or "k" for n in names]
        self.parts = nn.ModuleDict({f"{i}{k}": nn.Linear(2, 2) for i, k in enumerate(keys)})
        # As top-level keys (var_name is the key itself), except those that are ModuleDict attributes.
        self.top = nn.ModuleDict(
            {k: nn.Identity() for k in dict.fromkeys(keys) if not hasattr(nn.ModuleDict, k)}
        )
        self.odd = nn.ModuleList(hostile_class(n)() for n in names)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for m in self.parts.values():
            x = m(x)
        for m in self.top.values():
            x = m(x)
        for m in self.odd:
            x = m(x)
        return x


def hostile_stats(names: list[str] = HOSTILE, **kwargs: Any) -> ModelStatistics:
    return summary(Hostile(names), input_size=(1, 2), verbose=0, depth=5, **kwargs)


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list]] = []
        self.comments: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append((tag, attrs))

    def handle_comment(self, data: str) -> None:
        self.comments.append(data)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse_html(text: str) -> Tags:
    parser = Tags()
    parser.feed(text)
    parser.close()
    return parser


# ----- Markdown ---------------------------------------------------------------------------------

MD_TAGS = {"table", "thead", "tbody", "tr", "th", "td", "code", "p", "strong", "ul", "li"}


def render_markdown(text: str) -> str:
    return markdown_it.MarkdownIt("commonmark").enable("table").render(text)


def assert_markdown_is_inert(text: str) -> Tags:
    html = render_markdown(text)
    parsed = parse_html(html)
    assert {tag for tag, _ in parsed.tags} <= MD_TAGS, sorted({t for t, _ in parsed.tags} - MD_TAGS)
    assert all(not attrs or tag in ("th", "td") for tag, attrs in parsed.tags), parsed.tags
    assert not parsed.comments
    return parsed


def table_shapes(text: str) -> list[list[int]]:
    """For each Markdown table: the number of cells of each row (GFM, as markdown-it reads it)."""
    tokens = markdown_it.MarkdownIt("commonmark").enable("table").parse(text)
    tables: list[list[int]] = []
    for tok in tokens:
        if tok.type == "table_open":
            tables.append([])
        elif tok.type == "tr_open":
            tables[-1].append(0)
        elif tok.type in ("td_open", "th_open"):
            tables[-1][-1] += 1
    return tables


def test_markdown_turns_html_and_links_in_names_into_text() -> None:
    text = hostile_stats().to_markdown()
    parsed = assert_markdown_is_inert(text)
    shown = "".join(parsed.text)
    # The user's text is shown as it is, not dropped.
    assert "<img src=x onerror=alert(1)>" in shown
    assert "[click](javascript:alert(1))" in shown
    assert "&lt;b&gt;entity" in shown


def test_markdown_tables_keep_their_columns_whatever_the_names() -> None:
    stats = hostile_stats()
    for shape in table_shapes(stats.to_markdown()):
        assert len(set(shape)) == 1, shape
    assert len(table_shapes(stats.to_markdown())[0]) == len(stats.summary_list) + 1


def test_markdown_of_a_loaded_summary_is_as_safe() -> None:
    data = hostile_stats().to_dict()
    data["memory"] = {
        "optimizer": "<img src=x onerror=alert(2)>",
        "peak_bytes": 1,
        "parameters": 1,
        "gradients": 0,
        "optimizer_state": 0,
        "activations": 0,
    }
    data["rows"][1]["output_size"] = ["<script>x</script>|"]
    text = ModelStatistics.from_dict(data).to_markdown()
    assert_markdown_is_inert(text)
    assert all(len(set(shape)) == 1 for shape in table_shapes(text))


def test_diff_markdown_is_as_safe() -> None:
    before = summary(Hostile(HOSTILE[:6]), input_size=(1, 2), verbose=0).to_dict()
    after = summary(Hostile(HOSTILE[6:]), input_size=(1, 2), verbose=0).to_dict()
    text = diff_to_markdown(diff_summaries(before, after), "<b>a</b>.json", "x`|<i>`.json")
    assert_markdown_is_inert(text)
    for shape in table_shapes(text):
        assert len(set(shape)) == 1, shape


# ----- HTML -------------------------------------------------------------------------------------


def test_html_shows_names_as_text() -> None:
    page = hostile_stats().to_html(element_id="st-x", full_page=True)
    parsed = parse_html(page)
    tags = {tag for tag, _ in parsed.tags}
    assert not tags & {"img", "script", "a", "iframe"}
    for _, attrs in parsed.tags:
        assert not any(name.startswith("on") for name, _ in attrs), attrs
    assert "<img src=x onerror=alert(1)>" in "".join(parsed.text)


@pytest.mark.parametrize(
    "element_id",
    ['x" onmouseover="alert(1)', "x><script>alert(1)</script>", "1abc", "", "a b", "a{}", "a/*", "é"],
)
def test_html_refuses_an_element_id_that_is_not_a_plain_name(element_id: str) -> None:
    stats = hostile_stats(HOSTILE[:2])
    if element_id == "":
        stats.to_html(element_id=element_id)  # empty means "pick one", as before
        return
    with pytest.raises(ValueError, match="element_id"):
        stats.to_html(element_id=element_id)


def test_html_element_ids_with_colons_and_dots_work_in_the_css() -> None:
    page = hostile_stats(HOSTILE[:2]).to_html(element_id="cell:1.out-A_b")
    parsed = parse_html(page)
    assert ("div", [("class", "st-summary"), ("id", "cell:1.out-A_b")]) in parsed.tags
    style = page[page.index("<style>") : page.index("</style>")]
    assert "#cell\\:1\\.out-A_b " in style  # a CSS selector, escaped
    assert "#cell:1.out-A_b" not in style


# ----- CSV --------------------------------------------------------------------------------------

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _is_plain_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return cell.strip() == cell and "n" not in cell.lower()


def assert_no_formula_cells(text: str) -> list[dict[str, str]]:
    records = list(csv.DictReader(io.StringIO(text)))
    for record in records:
        for key, cell in record.items():
            if cell.startswith(FORMULA_START):
                assert _is_plain_number(cell), (key, cell)
    return records


def test_csv_neutralises_formula_cells() -> None:
    text = hostile_stats().to_csv()
    records = assert_no_formula_cells(text)
    classes = {r["class_name"] for r in records}
    assert '\'=HYPERLINK("https://evil.example","x")' in classes
    assert "'@SUM(A1)" in classes and "'+1+1" in classes and "'-2+3" in classes
    assert "'\tTAB" in classes
    names = {r["name"] for r in records}
    assert 'top.\'=HYPERLINK("https://evil,example","x")' not in names  # only a cell's first character counts
    assert any(n.startswith("top.=HYPERLINK") for n in names)
    var_names = {r["var_name"] for r in records}
    assert "'@SUM(A1)" in var_names


def test_csv_keeps_negative_numbers_as_numbers() -> None:
    data = hostile_stats(HOSTILE[:1]).to_dict()
    data["rows"][0]["own_params"] = -5  # tied weights can make a container's own params negative
    text = ModelStatistics.from_dict(data).to_csv()
    record = next(csv.DictReader(io.StringIO(text)))
    assert record["own_params"] == "-5"


# ----- properties: any string, every format ---------------------------------------------------

names = st.text(
    st.sampled_from(list("<>&|`*_[]()!\\#=+-@\t\r\n\"' ;:/aZ0é\u2028\x00")) | st.characters(codec="utf-8"),
    min_size=1,
    max_size=30,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(names, min_size=1, max_size=3))
def test_any_names_are_inert_in_every_format(picked: list[str]) -> None:
    picked = [n.replace("\x00", "") or "x" for n in picked]
    stats = hostile_stats(picked)
    text = stats.to_markdown()
    assert_markdown_is_inert(text)
    assert all(len(set(shape)) == 1 for shape in table_shapes(text))
    page = parse_html(stats.to_html(element_id="p"))
    assert {tag for tag, _ in page.tags} <= {
        "div", "style", "table", "caption", "thead", "tbody", "tfoot", "tr", "th", "td", "span", "input",
        "label",
    }  # fmt: skip
    assert_no_formula_cells(stats.to_csv())
    json.loads(stats.to_json())
