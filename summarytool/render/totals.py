"""The footer of a summary (totals, size estimates, memory) as label/value pairs: one list for every view."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from summarytool.schema import estimated_total_bytes
from summarytool.shapes import is_concrete

if TYPE_CHECKING:
    from summarytool.model_statistics import ModelStatistics


class MemoryLine(NamedTuple):
    key: str
    label: str
    nbytes: int
    detail: bool  # a part of the line above it (indented in the text table)


def _split_lines(key: str, report: Any) -> list[MemoryLine]:
    return [
        MemoryLine(f"{key}.parameters", "Parameters", report.parameters, True),
        MemoryLine(f"{key}.gradients", "Gradients", report.gradients, True),
        MemoryLine(f"{key}.optimizer_state", "Optimizer state", report.optimizer_state, True),
        MemoryLine(f"{key}.activations", "Activations and temporaries", report.activations, True),
    ]


def memory_blocks(stats: ModelStatistics) -> list[list[MemoryLine]]:
    """The memory footer: the training-step estimate, then what was measured on the device (if asked for)."""
    blocks: list[list[MemoryLine]] = []
    memory = getattr(stats, "memory", None)
    if memory is not None:
        head = MemoryLine(
            "memory.peak_bytes",
            f"Training step ({memory.optimizer}) peak, estimated",
            memory.peak_bytes,
            False,
        )
        blocks.append([head, *_split_lines("memory", memory)])
    measured = getattr(stats, "measured_memory", None)
    if measured is not None:
        key, on = "measured_memory", f"measured on {measured.device}"
        block = [
            MemoryLine(
                f"{key}.forward_peak_total_bytes",
                f"Forward pass peak, {on}",
                measured.in_use_before_bytes + measured.forward_peak_bytes,
                False,
            ),
            MemoryLine(
                f"{key}.in_use_before_bytes", "In use before the pass", measured.in_use_before_bytes, True
            ),
            MemoryLine(f"{key}.forward_peak_bytes", "Added by the pass", measured.forward_peak_bytes, True),
        ]
        step = measured.train_step
        if step is not None:
            label = f"Training step ({step.optimizer}) peak, {on}"
            block.append(MemoryLine(f"{key}.train_step.peak_bytes", label, step.peak_bytes, False))
            block += _split_lines(f"{key}.train_step", step)
        blocks.append(block)
    return blocks


class Total(NamedTuple):
    key: str  # the schema's key in "totals" ("" for a note)
    label: str  # "Params size (kB)": the unit the value is shown in is part of the label
    value: str  # "7.10"
    number: int | float
    # Where the text table puts it: a divider line starts each new section; detail lines are
    # indented; `group` names the lines a column brings (the registry's `footer_group`: "flops").
    section: int = 0
    detail: bool = False
    group: str = ""
    note: bool = False  # a sentence the text table prints under its totals (not a total: label only)


def _note(text: str, group: str = "") -> Total:
    return Total("", text, "", 0, group=group, note=True)


def _split(stats: ModelStatistics, label: str, num: float, units: object, is_bytes: bool) -> tuple[str, str]:
    # format_output_num gives ": 1,774" or " (kB): 7.10", exactly as the text table's footer.
    unit_part, _, value = stats.format_output_num(num, units, is_bytes).rpartition(": ")
    return label + unit_part, value


def footer(stats: ModelStatistics, notes: bool = True) -> list[Total]:
    """The totals under a summary's rows, for every view: the text table prints them all (the FLOPs
    group only with a FLOPs column), the tables leave out the notes.

    FLOPs and the training-step memory appear when measured. `notes=False` leaves the notes out
    (and the scan of every row that one of them needs).
    """
    fmt = stats.formatting
    count, macs, size = fmt.params_count_units, fmt.macs_units, fmt.params_size_units
    # key, label, number, units, is_bytes, section, detail, group
    items: list[tuple[str, str, float, object, bool, int, bool, str] | Total] = [
        ("total_params", "Total params", stats.total_params, count, False, 0, False, ""),
        ("trainable_params", "Trainable params", stats.trainable_params, count, False, 0, False, ""),
        (
            "non_trainable_params",
            "Non-trainable params",
            stats.total_params - stats.trainable_params,
            count,
            False,
            0,
            False,
            "",
        ),
    ]
    if stats.input_size:
        items.append(("total_mult_adds", "Total mult-adds", stats.total_mult_adds, macs, False, 0, False, ""))
        symbolic = notes and sum(1 for info in stats.summary_list if not is_concrete(info.output_size))
        if symbolic:  # (a dry run through data-dependent ops: sizes are symbols such as u0)
            items.append(
                _note(
                    f"Sizes incomplete: {symbolic:,} rows have sizes the data decides (u0, u1, ...); their "
                    "mult-adds and output bytes count 0 here"
                )
            )
        flops = False
        for key, label in (("total_flops", "Total FLOPs"), ("total_backward_flops", "Total backward FLOPs")):
            value = getattr(stats, key, None)
            if isinstance(value, (int, float)):
                items.append((key, label, value, macs, False, 0, False, "flops"))
                flops = True
        if flops and notes:
            for op, calls in sorted(stats.flops_uncounted.items()):
                items.append(
                    _note(f"FLOPs incomplete: {calls:,} calls of {op} not counted (rows marked *)", "flops")
                )
        total = estimated_total_bytes(stats)
        items += [
            ("total_input", "Input size", stats.total_input or 0, size, True, 1, False, ""),
            (
                "total_output_bytes",
                "Forward/backward pass size",
                stats.total_output_bytes,
                size,
                True,
                1,
                False,
                "",
            ),
            ("total_param_bytes", "Params size", stats.total_param_bytes, size, True, 1, False, ""),
            ("estimated_total_bytes", "Estimated Total Size", total or 0, size, True, 1, False, ""),
        ]
    for n, block in enumerate(memory_blocks(stats), start=2):
        items += [(key, label, num, size, True, n, detail, "") for key, label, num, detail in block]
    out = []
    for item in items:
        if isinstance(item, Total):
            out.append(item)
            continue
        key, label, num, units, is_bytes, section, detail, group = item
        shown_label, value = _split(stats, label, num, units, is_bytes)
        out.append(Total(key, shown_label, value, num, section, detail, group))
    return out
