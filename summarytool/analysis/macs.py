"""torchinfo's mult-adds rule: a per-module estimate from parameter sizes and the output shape.

It ignores matmul, attention and functional ops by design (that is what the FLOPs columns are for);
it is kept exactly so that totals match torchinfo.
"""

from __future__ import annotations

import math

from torch import nn

from summarytool.analysis.params import effective_count


def torchinfo_macs(module: nn.Module, class_name: str, output_size: list[int]) -> int:
    total = 0
    conv = "Conv" in class_name
    linear = "Linear" in class_name
    batch = output_size[:1]
    for raw_name, param in module.named_parameters():
        count, name = effective_count(module, raw_name, param)
        if name in ("weight", "bias"):
            if conv:
                total += count * math.prod(batch + output_size[2:])
            elif linear:
                total += count * math.prod(output_size[:-1])
            else:
                total += (output_size[0] if output_size else 1) * count
        elif "weight" in name or "bias" in name:
            total += math.prod(output_size[:2]) * count
    return int(total)
