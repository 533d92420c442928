"""summarytool: a drop-in for torchinfo.summary that tells what a PyTorch model costs."""

from __future__ import annotations

import importlib
from typing import Any

from summarytool.enums import (
    ColumnSettings,
    CostColumns,
    Mode,
    OutputRowSettings,
    RowSettings,
    Units,
    Verbosity,
)

__version__ = "0.1.0"

# The torch-using half is imported on first use (PEP 562), so `summarytool --help` does not load torch.
_LAZY = {
    "clear_cached_forward_pass": "summarytool.api",
    "summary": "summarytool.api",
    "fit": "summarytool.planner",
    "SummaryError": "summarytool.errors",
    "MissingColumnDataError": "summarytool.columns",
    "HEADER_TITLES": "summarytool.formatting",
    "FormattingOptions": "summarytool.formatting",
    "ModelStatistics": "summarytool.model_statistics",
    "LayerInfo": "summarytool.records",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'summarytool' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "HEADER_TITLES",
    "ColumnSettings",
    "CostColumns",
    "FormattingOptions",
    "LayerInfo",
    "MissingColumnDataError",
    "Mode",
    "ModelStatistics",
    "OutputRowSettings",
    "RowSettings",
    "SummaryError",
    "Units",
    "Verbosity",
    "clear_cached_forward_pass",
    "fit",
    "summary",
]
