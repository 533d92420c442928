"""The pytorch-summary (torchsummary 1.5.1) table, character for character; text only, no counting."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

# torchsummary's fixed layout: 64-character rules and three right-aligned columns (20, 25, 15).
RULE = "-" * 64
DOUBLE_RULE = "=" * 64


@dataclass(frozen=True)
class Footer:
    """The numbers under the rows; sizes are already in MB (MiB, as torchsummary computes them)."""

    total_params: int
    trainable_params: int
    input_mb: float
    forward_backward_mb: float
    params_mb: float

    @property
    def total_mb(self) -> float:
        # Summed in torchsummary's order so the rounding of the last digit is the same.
        return self.params_mb + self.forward_backward_mb + self.input_mb


def table_line(name: str, output_shape: str, params: str) -> str:
    """One row (or the header): name right-aligned in 20, shape in 25 after two spaces, params in 15."""
    return f"{name:>20}  {output_shape:>25} {params:>15}"


def render_torchsummary(rows: Sequence[tuple[str, str, str]], footer: Footer) -> str:
    """The whole table, each line ending with a newline (what torchsummary prints line by line)."""
    lines = [RULE, table_line("Layer (type)", "Output Shape", "Param #"), DOUBLE_RULE]
    lines.extend(table_line(*row) for row in rows)
    lines += [
        DOUBLE_RULE,
        f"Total params: {footer.total_params:,}",
        f"Trainable params: {footer.trainable_params:,}",
        f"Non-trainable params: {footer.total_params - footer.trainable_params:,}",
        RULE,
        f"Input size (MB): {footer.input_mb:0.2f}",
        f"Forward/backward pass size (MB): {footer.forward_backward_mb:0.2f}",
        f"Params size (MB): {footer.params_mb:0.2f}",
        f"Estimated Total Size (MB): {footer.total_mb:0.2f}",
        RULE,
    ]
    return "".join(line + "\n" for line in lines)
