"""The column registry (summarytool/columns.py): every column renders everywhere, none twice, none without its data."""

from __future__ import annotations

from collections import namedtuple

import pytest
import torch
from torch import nn

from summarytool import summary
from summarytool.columns import COLUMNS, MissingColumnDataError, register_column
from summarytool.enums import ColumnSettings, CostColumns

ALL = [spec.name for spec in COLUMNS.values()]
Pair = namedtuple("Pair", "a b")


class TwoOut(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(4, 3)
        self.b = nn.Conv1d(2, 2, kernel_size=1)
        self.split = Split()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.b(x.reshape(2, 2, 2))
        first, _ = self.split(self.a(x))
        return first


class Split(nn.Module):
    def forward(self, x: torch.Tensor) -> Pair:
        return Pair(x, x[:1])


@pytest.fixture(scope="module")
def stats():
    return summary(TwoOut(), (2, 4), col_names=ALL, train_step=True, verbose=0)


def test_every_enum_column_is_registered() -> None:
    assert set(COLUMNS) == set(ColumnSettings) | set(CostColumns)


def test_every_registered_column_renders_in_every_renderer(stats) -> None:
    text, markdown, html = str(stats), stats.to_markdown(), stats.to_html(element_id="t")
    header_line = markdown.splitlines()[0]
    for spec in COLUMNS.values():
        assert spec.title in text.splitlines()[1], spec.name
        assert f" {spec.title} |" in header_line, spec.name
        if spec.name != "params_percent":  # HTML shows it as the share bar next to Param #
            assert f">{spec.title}</th>" in html, spec.name
    rows = markdown.split("\n\n")[0].splitlines()[2:]
    assert len(rows) == len(stats.summary_list)
    for row in rows:  # one cell per column, plus layer and name
        assert row.count(" | ") == len(ALL) + 1
    align = markdown.splitlines()[1].split(" | ")[2:]
    assert [a.strip("| ") == "---:" for a in align] == [spec.numeric for spec in COLUMNS.values()]


def test_registering_a_column_twice_raises() -> None:
    with pytest.raises(RuntimeError, match="'num_params' is registered already"):

        @register_column(ColumnSettings.NUM_PARAMS, "Param #")
        def again(row, ctx) -> str:  # pragma: no cover - never registered
            return ""

    assert COLUMNS[ColumnSettings.NUM_PARAMS].title == "Param #"


def test_all_output_shapes_reach_markdown_and_html_as_the_text_table() -> None:
    stats = summary(TwoOut(), (2, 4), row_settings=["all_output_shapes"], verbose=0)
    assert "[2, 3], [1, 3]" in str(stats)
    assert "| [2, 3], [1, 3] |" in stats.to_markdown()
    assert '<td class="st-shape">[2, 3], [1, 3]</td>' in stats.to_html(element_id="t")
    one = summary(TwoOut(), (2, 4), verbose=0)
    assert "[2, 3], [1, 3]" not in one.to_markdown() + one.to_html(element_id="t")


@pytest.mark.parametrize(
    ("column", "argument"),
    [("flops", "col_names"), ("backward_flops", "col_names"), ("activation_memory", "train_step")],
)
def test_a_column_whose_data_was_not_collected_says_what_to_pass(column: str, argument: str) -> None:
    stats = summary(TwoOut(), (2, 4), verbose=0)
    stats.formatting.col_names = (*stats.formatting.col_names, COLUMNS_BY_NAME[column])
    for render in (str, lambda s: s.to_markdown(), lambda s: s.to_html()):
        with pytest.raises(MissingColumnDataError, match=f"{column!r} column .* {argument}="):
            render(stats)
    loaded = type(stats).from_dict(summary(TwoOut(), (2, 4), verbose=0).to_dict())
    loaded.formatting.col_names = (COLUMNS_BY_NAME[column],)
    with pytest.raises(MissingColumnDataError):
        str(loaded)


def test_collected_columns_render_after_a_round_trip(stats) -> None:
    assert str(type(stats).from_dict(stats.to_dict())) == str(stats)


COLUMNS_BY_NAME = {spec.name: key for key, spec in COLUMNS.items()}


def test_the_error_is_a_public_name() -> None:
    import summarytool

    assert summarytool.MissingColumnDataError is MissingColumnDataError
    assert "MissingColumnDataError" in summarytool.__all__
