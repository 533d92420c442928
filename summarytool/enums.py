"""The public vocabulary: column, row, mode, unit and verbosity names (same values as torchinfo)."""

from __future__ import annotations

from enum import Enum, IntEnum, unique
from typing import Any


@unique
class ColumnSettings(str, Enum):
    """Columns a summary table can show, in the order the user lists them."""

    KERNEL_SIZE = "kernel_size"
    GROUPS = "groups"
    INPUT_SIZE = "input_size"
    OUTPUT_SIZE = "output_size"
    NUM_PARAMS = "num_params"
    PARAMS_PERCENT = "params_percent"
    MULT_ADDS = "mult_adds"
    TRAINABLE = "trainable"


@unique
class CostColumns(str, Enum):
    """summarytool's own columns: what a call costs beyond torchinfo's mult-adds.

    Kept out of ColumnSettings so that ``list(ColumnSettings)`` (torchinfo's "all columns") is
    exactly torchinfo's; ``col_names`` accepts these members or their strings alongside.
    """

    # FLOPs counted at the ATen-op level (matmul, attention, functional ops too).
    FLOPS = "flops"
    BACKWARD_FLOPS = "backward_flops"
    # Bytes a call keeps alive for the backward pass (from the training-step memory estimate).
    ACTIVATION_MEMORY = "activation_memory"


@unique
class RowSettings(str, Enum):
    """How rows are named and which rows are shown."""

    DEPTH = "depth"
    VAR_NAMES = "var_names"
    ASCII_ONLY = "ascii_only"
    HIDE_RECURSIVE_LAYERS = "hide_recursive_layers"


@unique
class OutputRowSettings(str, Enum):
    """summarytool's own row settings (beyond torchinfo's, so ``list(RowSettings)`` stays torchinfo's)."""

    # The Output Shape cell lists every tensor of a tuple/list/dict output.
    ALL_OUTPUT_SHAPES = "all_output_shapes"


# A column or row setting is one of torchinfo's or one of summarytool's own.
Column = ColumnSettings | CostColumns
RowSetting = RowSettings | OutputRowSettings


@unique
class Mode(str, Enum):
    """The training flag the forward pass runs with; SAME keeps each module's own flag."""

    TRAIN = "train"
    EVAL = "eval"
    SAME = "same"


@unique
class Units(str, Enum):
    """Units for the footer numbers; AUTO picks k/M/G/T in decimal steps of 1e3."""

    AUTO = "auto"
    KILOBYTES = "k"
    MEGABYTES = "M"
    GIGABYTES = "G"
    TERABYTES = "T"
    NONE = ""


@unique
class Verbosity(IntEnum):
    """0 prints nothing, 1 prints the table, 2 adds one row per parameter."""

    QUIET = 0
    DEFAULT = 1
    VERBOSE = 2


def _lookup(enums: tuple[type[Enum], ...], value: object) -> Any:
    for enum in enums:
        try:
            return enum(value)
        except ValueError:
            continue
    allowed = ", ".join(repr(e.value) for enum in enums for e in enum)
    raise ValueError(f"{value!r} is not a valid {enums[0].__name__}; choose from {allowed}.")


def parse_column(value: object) -> Column:
    """A column by name or member: torchinfo's first, then summarytool's own (ValueError if neither)."""
    return _lookup((ColumnSettings, CostColumns), value)


def parse_row_setting(value: object) -> RowSetting:
    """A row setting by name or member: torchinfo's first, then summarytool's own."""
    return _lookup((RowSettings, OutputRowSettings), value)


DEFAULT_COLUMN_NAMES: tuple[ColumnSettings, ...] = (ColumnSettings.OUTPUT_SIZE, ColumnSettings.NUM_PARAMS)
DEFAULT_ROW_SETTINGS: frozenset[RowSettings] = frozenset({RowSettings.DEPTH})
# Columns that only a forward pass can fill.
INPUT_NEEDED_COLUMNS: frozenset[Column] = frozenset(
    {
        ColumnSettings.INPUT_SIZE,
        ColumnSettings.OUTPUT_SIZE,
        ColumnSettings.MULT_ADDS,
        CostColumns.FLOPS,
        CostColumns.BACKWARD_FLOPS,
        CostColumns.ACTIVATION_MEMORY,
    }
)
FLOP_COLUMNS: frozenset[Column] = frozenset({CostColumns.FLOPS, CostColumns.BACKWARD_FLOPS})

# One layer holding more than this share of all params dominates the model: the HTML view flags the
# deepest such row ("parameter black hole"), the self-check advises on a Linear holding at least it.
DOMINANT_SHARE = 0.5
