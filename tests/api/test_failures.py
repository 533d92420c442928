"""A failing forward pass names the module, its input shapes, and keeps the rows that ran."""

from __future__ import annotations

import pytest
from models import Broken
from torch import nn

from summarytool import ModelStatistics, SummaryError, summary


def test_error_names_module_and_shapes_and_keeps_partial_table(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SummaryError) as info:
        summary(Broken(), (2, 4), verbose=1)
    err = info.value
    assert isinstance(err, RuntimeError)  # torchinfo raises RuntimeError; callers catching it still do
    assert err.module_name == "stages.1"
    assert err.module_class == "Linear"
    assert err.input_shapes == [[2, 8]]
    message = str(err)
    assert "Linear (stages.1)" in message and "[[2, 8]]" in message
    assert message.endswith("Executed layers up to: [Linear: 2]")  # the calls that finished
    # The original exception is chained.
    assert isinstance(err.__cause__, RuntimeError) and "mat1 and mat2" in str(err.__cause__)
    # The rows that ran, as a summary of their own.
    partial = err.partial_summary
    assert isinstance(partial, ModelStatistics)
    assert [r.class_name for r in partial.summary_list] == ["Broken", "Sequential", "Linear", "Linear"]
    assert [r.executed for r in partial.summary_list] == [False, False, True, False]
    assert partial.summary_list[2].output_size == [2, 8]
    printed = capsys.readouterr().err
    assert "the forward pass failed in Linear (stages.1)" in printed
    assert "├─Sequential: 1-1" in printed


def test_quiet_failure_prints_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SummaryError):
        summary(Broken(), (2, 4), verbose=0)
    assert capsys.readouterr() == ("", "")


class ReturnsText(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(2, 2)

    def forward(self, x):
        self.fc(x)
        return "not a tensor"


def test_unsupported_output_type_is_a_clear_error() -> None:
    with pytest.raises(RuntimeError) as info:
        summary(ReturnsText(), (1, 2), verbose=0)
    assert isinstance(info.value.__cause__, TypeError)
    assert "unsupported input or output type" in str(info.value.__cause__)
    assert "ReturnsText" in str(info.value)


def test_hooks_are_removed_after_a_failure_so_the_model_still_runs() -> None:
    model = nn.Sequential(nn.Linear(4, 3))
    with pytest.raises(SummaryError):
        summary(model, (2, 5), verbose=0)
    assert model(__import__("torch").zeros(2, 4)).shape == (2, 3)
    stats = summary(model, (2, 4), verbose=0)
    assert stats.total_params == 15
