"""summarytool: a drop-in for torchinfo.summary that tells what a PyTorch model costs."""

from summarytool.api import clear_cached_forward_pass, summary
from summarytool.enums import (
    ColumnSettings,
    CostColumns,
    Mode,
    OutputRowSettings,
    RowSettings,
    Units,
    Verbosity,
)
from summarytool.errors import SummaryError
from summarytool.formatting import HEADER_TITLES, FormattingOptions
from summarytool.model_statistics import ModelStatistics
from summarytool.records import LayerInfo

__version__ = "0.1.0"

__all__ = [
    "HEADER_TITLES",
    "ColumnSettings",
    "CostColumns",
    "FormattingOptions",
    "LayerInfo",
    "Mode",
    "ModelStatistics",
    "OutputRowSettings",
    "RowSettings",
    "SummaryError",
    "Units",
    "Verbosity",
    "clear_cached_forward_pass",
    "summary",
]
