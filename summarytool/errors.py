"""Errors summary() raises on a failing model."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from summarytool.model_statistics import ModelStatistics


class SummaryError(RuntimeError):
    """The model's forward pass failed; names the module that raised and keeps the rows that ran.

    A RuntimeError (like torchinfo's) chained to the original exception, with the summary of
    the rows recorded before the failure on ``.partial_summary``.
    """

    def __init__(
        self,
        message: str,
        partial_summary: ModelStatistics | None = None,
        module_name: str | None = None,
        module_class: str | None = None,
        input_shapes: list | None = None,
    ) -> None:
        super().__init__(message)
        self.partial_summary = partial_summary
        self.module_name = module_name
        self.module_class = module_class
        self.input_shapes = input_shapes
