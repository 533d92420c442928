"""torchinfo's mult-adds rule: a per-module estimate from parameter sizes and the output shape.

It ignores matmul, attention and functional ops by design (that is what the FLOPs columns are for);
it is kept exactly so that totals match torchinfo.
"""

from __future__ import annotations

import math

from torch import nn

from summarytool.analysis.params import effective_count


def torchinfo_macs(module: nn.Module, class_name: str, output_size: list[int]) -> int:
    """The rule applied to `module`'s own parameters (each counted through its pruning mask)."""
    exact_wb = weightish = 0
    for raw_name, param in module.named_parameters():
        count, name = effective_count(module, raw_name, param)
        if name in ("weight", "bias"):
            exact_wb += count
        elif "weight" in name or "bias" in name:
            weightish += count
    return macs_from_counts(class_name, output_size, exact_wb, weightish)


def macs_from_counts(class_name: str, output_size: list[int], exact_wb: int, weightish: int) -> int:
    """torchinfo's rule, given the parameter counts it distinguishes.

    `exact_wb`: params named exactly "weight" or "bias", scaled by the output's positions (a
    convolution's batch and spatial sizes, a linear layer's leading sizes, else the batch);
    `weightish`: other params whose name mentions weight or bias (an RNN's weight_ih_l0), scaled by
    the output's first two sizes.
    """
    total = 0
    if exact_wb:
        if "Conv" in class_name:
            total += exact_wb * math.prod(output_size[:1] + output_size[2:])
        elif "Linear" in class_name:
            total += exact_wb * math.prod(output_size[:-1])
        else:
            total += (output_size[0] if output_size else 1) * exact_wb
    if weightish:
        total += math.prod(output_size[:2]) * weightish
    return int(total)
