"""The footer of a summary (totals and size estimates) as label/value pairs, for the non-text views."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from summarytool.render.schema import estimated_total_bytes

if TYPE_CHECKING:
    from summarytool.model_statistics import ModelStatistics


class Total(NamedTuple):
    key: str  # the schema's key in "totals"
    label: str  # "Params size (kB)": the unit the value is shown in is part of the label
    value: str  # "7.10"
    number: int | float


def _split(stats: ModelStatistics, label: str, num: float, units: object, is_bytes: bool) -> tuple[str, str]:
    # format_output_num gives ": 1,774" or " (kB): 7.10", exactly as the text table's footer.
    unit_part, _, value = stats.format_output_num(num, units, is_bytes).rpartition(": ")
    return label + unit_part, value


def footer(stats: ModelStatistics) -> list[Total]:
    """The same totals as the text table's footer: FLOPs and the training-step memory when measured."""
    fmt = stats.formatting
    items: list[tuple[str, str, float, object, bool]] = [
        ("total_params", "Total params", stats.total_params, fmt.params_count_units, False),
        ("trainable_params", "Trainable params", stats.trainable_params, fmt.params_count_units, False),
        (
            "non_trainable_params",
            "Non-trainable params",
            stats.total_params - stats.trainable_params,
            fmt.params_count_units,
            False,
        ),
    ]
    if stats.input_size:
        items.append(("total_mult_adds", "Total mult-adds", stats.total_mult_adds, fmt.macs_units, False))
        for key, label in (("total_flops", "Total FLOPs"), ("total_backward_flops", "Total backward FLOPs")):
            value = getattr(stats, key, None)
            if isinstance(value, (int, float)):
                items.append((key, label, value, fmt.macs_units, False))
        total = estimated_total_bytes(stats)
        items += [
            ("total_input", "Input size", stats.total_input or 0, fmt.params_size_units, True),
            (
                "total_output_bytes",
                "Forward/backward pass size",
                stats.total_output_bytes,
                fmt.params_size_units,
                True,
            ),
            ("total_param_bytes", "Params size", stats.total_param_bytes, fmt.params_size_units, True),
            ("estimated_total_bytes", "Estimated Total Size", total or 0, fmt.params_size_units, True),
        ]
    memory = getattr(stats, "memory", None)
    if memory is not None:
        size = fmt.params_size_units
        items += [
            (
                "memory.peak_bytes",
                f"Training step ({memory.optimizer}) peak, estimated",
                memory.peak_bytes,
                size,
                True,
            ),
            ("memory.parameters", "Parameters", memory.parameters, size, True),
            ("memory.gradients", "Gradients", memory.gradients, size, True),
            ("memory.optimizer_state", "Optimizer state", memory.optimizer_state, size, True),
            ("memory.activations", "Activations and temporaries", memory.activations, size, True),
        ]
        measured = getattr(memory, "measured_peak_bytes", None)
        if measured is not None:
            items.append(
                (
                    "memory.measured_peak_bytes",
                    f"Training step peak, measured on {memory.device}",
                    measured,
                    size,
                    True,
                )
            )
    out = []
    for key, label, num, units, is_bytes in items:
        shown_label, value = _split(stats, label, num, units, is_bytes)
        out.append(Total(key, shown_label, value, num))
    return out
