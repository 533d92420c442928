"""The object `summary()` returns: rows, totals and the display settings; str() is the table."""

from __future__ import annotations

from typing import Any

from summarytool.analysis import params as param_analysis
from summarytool.enums import Units
from summarytool.formatting import FormattingOptions
from summarytool.records import LayerInfo
from summarytool.render.exports import ExportsMixin

_STEPS = ((1e12, Units.TERABYTES), (1e9, Units.GIGABYTES), (1e6, Units.MEGABYTES), (1e3, Units.KILOBYTES))
_SCALE = {Units.KILOBYTES: 1e3, Units.MEGABYTES: 1e6, Units.GIGABYTES: 1e9, Units.TERABYTES: 1e12}


class ModelStatistics(ExportsMixin):
    """Totals over the rows of a summary (torchinfo main's rules: every parameter counted once)."""

    # True for the rows that ran before a forward pass failed (SummaryError.partial_summary): it shows
    # what it has, even where a column's data (FLOPs, memory) was never completed.
    partial = False

    def __init__(
        self,
        summary_list: list[LayerInfo],
        input_size: Any,
        total_input_size: int | None,
        formatting: FormattingOptions,
        *,
        param_totals: param_analysis.ParamStats | None = None,
        flop_counter: Any = None,
        memory: Any = None,
        measured_memory: Any = None,
    ) -> None:
        self.summary_list = summary_list
        self.input_size = input_size
        self.formatting = formatting
        self.total_input = total_input_size
        self.total_mult_adds = 0
        self.total_output_bytes = 0
        for info in summary_list:
            if info.is_leaf_layer:
                self.total_mult_adds += info.macs
                if info.num_params > 0:
                    # x2: the backward pass keeps a gradient of the same size.
                    self.total_output_bytes += 2 * info.output_bytes
        if summary_list:
            # Every parameter of the root counted once (tied weights too), as torchinfo main does.
            root = param_totals or param_analysis.module_param_stats(summary_list[0].module)
            self.total_params = root.count
            self.trainable_params = root.trainable
            self.total_param_bytes = root.nbytes
        else:
            self.total_params = self.trainable_params = self.total_param_bytes = 0
        # FLOPs: None unless counted (a FLOPs column was asked for, or a dry run).
        self.total_flops: int | None = None if flop_counter is None else flop_counter.total
        self.flops_by_op: dict[str, int] = {} if flop_counter is None else dict(flop_counter.by_op)
        self.flops_uncounted: dict[str, int] = {} if flop_counter is None else dict(flop_counter.uncounted)
        # The training-step memory estimate (summarytool.capture.memory.MemoryReport), if asked for.
        self.memory = memory
        # Memory measured on the device (summarytool.capture.measured.MeasuredMemory), if asked for.
        self.measured_memory = measured_memory
        formatting.set_layer_name_width(summary_list)

    @property
    def total_backward_flops(self) -> int | None:
        """Estimated FLOPs of the backward pass (2x the forward's matrix products)."""
        from summarytool.capture.ops import BACKWARD_FACTOR

        return None if self.total_flops is None else BACKWARD_FACTOR * self.total_flops

    def __repr__(self) -> str:
        from summarytool.render.text import render_table

        return render_table(self)

    @staticmethod
    def float_to_megabytes(num: int) -> float:
        """Values of 4 bytes each, in MB."""
        return num * 4 / 1e6

    @staticmethod
    def to_megabytes(num: int) -> float:
        return num / 1e6

    @staticmethod
    def to_readable(num: float, units: Units = Units.AUTO) -> tuple[Units, float]:
        """A number scaled to `units`; AUTO picks the largest decimal step that keeps it >= 1."""
        num = float(num)
        if units == Units.AUTO:
            for limit, unit in _STEPS:
                if num >= limit:
                    return unit, num / limit
            return Units.NONE, num
        if units in _SCALE:
            return units, num / _SCALE[units]
        return Units.NONE, num

    @staticmethod
    def format_output_num(num: float, units: Units, is_bytes: bool) -> str:
        """': 1,234' or ' (kB): 87.36': the unit label (if any) and the scaled value."""
        used, value = ModelStatistics.to_readable(num, units)
        label = "" if used == Units.NONE else f" ({used.value}{'B' if is_bytes else ''})"
        if float(value).is_integer():
            return f"{label}: {int(value):,}"
        return f"{label}: {value:,.2f}"
