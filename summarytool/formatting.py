"""Display settings of a summary (torchinfo's FormattingOptions); users may change them and print again."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING

from summarytool.columns import COLUMNS
from summarytool.enums import Column, ColumnSettings, RowSetting, RowSettings, Units, Verbosity

if TYPE_CHECKING:
    from summarytool.records import LayerInfo

# Every column's header, from the column registry (summarytool/columns.py).
HEADER_TITLES: dict[Column, str] = {key: spec.title for key, spec in COLUMNS.items()}

LAYER_NAME_WIDTH = 40
NAME_ALIGN = 5


class FormattingOptions:
    """Columns, widths, depth and units of the printed table."""

    def __init__(
        self,
        max_depth: int,
        verbose: int,
        col_names: Iterable[Column],
        col_width: int,
        row_settings: Iterable[RowSetting],
    ) -> None:
        self.max_depth = max_depth
        self.verbose = verbose
        self.col_names = tuple(col_names)
        self.col_width = col_width
        self.row_settings = set(row_settings)
        self.params_count_units = Units.NONE
        self.params_size_units = Units.AUTO
        self.macs_units = Units.AUTO
        self.layer_name_width = LAYER_NAME_WIDTH
        self.ascii_only = RowSettings.ASCII_ONLY in self.row_settings
        self.show_var_name = RowSettings.VAR_NAMES in self.row_settings
        self.show_depth = RowSettings.DEPTH in self.row_settings
        self.hide_recursive_layers = RowSettings.HIDE_RECURSIVE_LAYERS in self.row_settings

    def set_layer_name_width(self, summary_list: list[LayerInfo], align_val: int = NAME_ALIGN) -> None:
        """Widen the name column (to a multiple of 5) when the longest indented name needs it."""
        longest = 0
        show_var_name, show_depth = self.show_var_name, self.show_depth
        for info in summary_list:
            # The length of info.get_layer_name(...), without building the string for every row.
            length = len(info.class_name) + info.depth * align_val + 1
            if show_var_name and info.var_name:
                length += len(info.var_name) + 3  # " (name)"
            if show_depth and info.depth > 0:
                length += 2 + len(str(info.depth))  # ": 3"
                if info.depth_index is not None:
                    length += 1 + len(str(info.depth_index))  # "-12"
            if length > longest:
                longest = length
        if longest >= self.layer_name_width:
            self.layer_name_width = math.ceil(longest / align_val) * align_val

    def get_total_width(self) -> int:
        return self.layer_name_width + len(self.col_names) * self.col_width

    def get_start_str(self, depth: int) -> str:
        """The tree prefix of a row at `depth`."""
        if depth == 0:
            return ""
        branch, pipe = ("+ ", "|    ") if self.ascii_only else ("├─", "│    ")
        if depth == 1:
            return branch
        return pipe * (depth - 1) + ("+ " if self.ascii_only else "└─")

    def header_row(self) -> str:
        suffix = ""
        if self.show_var_name:
            suffix += " (var_name)"
        if self.show_depth:
            suffix += ":depth-idx"
        return self.format_row(f"Layer (type{suffix})", HEADER_TITLES)

    def format_row(self, layer_name: str, row_values: dict[ColumnSettings, str]) -> str:
        line = f"{layer_name:<{self.layer_name_width}} "
        for col in self.col_names:
            line += f"{row_values.get(col, ''):<{self.col_width}} "
        return line.rstrip() + "\n"

    @property
    def params_units(self) -> Units:
        """torchinfo 1.8.0's name for the param-count units."""
        return self.params_count_units

    @params_units.setter
    def params_units(self, value: Units) -> None:
        self.params_count_units = value

    @property
    def is_verbose(self) -> bool:
        return self.verbose == Verbosity.VERBOSE
