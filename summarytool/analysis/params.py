"""Parameter counts: pruned weights count their mask's ones, lazy (uninitialised) ones are skipped."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from summarytool.enums import ColumnSettings

try:
    from torch.nn.parameter import is_lazy
except ImportError:  # pragma: no cover - every supported torch has it

    def is_lazy(param: Any) -> bool:
        return False


_PRUNE_SUFFIX = "_orig"


@dataclass
class ParamStats:
    count: int = 0
    trainable: int = 0
    nbytes: int = 0
    has_lazy: bool = False

    def add(self, other: ParamStats) -> None:
        self.count += other.count
        self.trainable += other.trainable
        self.nbytes += other.nbytes
        self.has_lazy = self.has_lazy or other.has_lazy


def _lookup(module: nn.Module, dotted: str) -> Any:
    obj: Any = module
    for part in dotted.split("."):
        if not hasattr(obj, part):
            return None
        obj = getattr(obj, part)
    return obj


def effective_count(module: nn.Module, name: str, param: torch.Tensor) -> tuple[int, str]:
    """How many values a parameter holds, and its display name.

    ``torch.nn.utils.prune`` keeps the dense weight as ``<name>_orig`` and a 0/1 buffer
    ``<name>_mask``: only the mask's ones are live parameters.
    """
    if name.endswith(_PRUNE_SUFFIX):
        base = name[: -len(_PRUNE_SUFFIX)]
        mask = _lookup(module, f"{base}_mask")
        if isinstance(mask, torch.Tensor):
            if mask.device.type == "meta" or _is_fake(mask):
                # A dry run's copy carries the count of the real mask it stands for (see dry_run).
                return getattr(mask, "live_count", mask.numel()), base
            return int(torch.count_nonzero(mask)), base
    return param.numel(), name


def _is_fake(t: torch.Tensor) -> bool:
    return type(t).__name__ == "FakeTensor"


def _stats_of(items: Any, module: nn.Module) -> ParamStats:
    stats = ParamStats()
    for name, param in items:
        if is_lazy(param):
            stats.has_lazy = True
            continue
        count, _ = effective_count(module, name, param)
        stats.count += count
        stats.nbytes += count * param.element_size()
        if param.requires_grad:
            stats.trainable += count
    return stats


def module_param_stats(module: nn.Module) -> ParamStats:
    """All parameters of a module and its submodules, each shared parameter once."""
    return _stats_of(module.named_parameters(), module)


def direct_param_stats(module: nn.Module) -> ParamStats:
    """Only the parameters the module registers itself."""
    return _stats_of(module.named_parameters(recurse=False), module)


def inner_layer_rows(module: nn.Module, is_root: bool) -> dict[str, dict[ColumnSettings, Any]]:
    """verbose=2 rows: one per parameter, kernel column showing its shape ([in, out, ...] for weights)."""
    rows: dict[str, dict[ColumnSettings, Any]] = {}
    last = ""
    for raw_name, param in module.named_parameters():
        if is_lazy(param):
            continue
        count, name = effective_count(module, raw_name, param)
        shape = list(param.shape)
        if name == "weight" and len(shape) > 1:
            shape[0], shape[1] = shape[1], shape[0]
        if is_root and "." in name:
            continue
        rows[name] = {ColumnSettings.KERNEL_SIZE: str(shape), ColumnSettings.NUM_PARAMS: f"├─{count:,}"}
        last = name
    if rows:
        rows[last][ColumnSettings.NUM_PARAMS] = "└─" + rows[last][ColumnSettings.NUM_PARAMS][2:]
    return rows
