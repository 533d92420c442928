"""Per-module values (parameter counts, torchinfo mult-adds) computed once per summary.

`named_parameters()` walks a module's whole subtree, so asking it for every row costs
rows x depth. When no module or parameter is shared and nothing is lazy (the common case),
subtree counts are summed bottom-up over the module tree once instead; otherwise every
value falls back to the exact, deduplicating walk.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import nn

from summarytool.analysis.macs import macs_from_counts, torchinfo_macs
from summarytool.analysis.params import ParamStats, effective_count, is_lazy, module_param_stats
from summarytool.capture.registry import ModuleRegistry

# What a call fills in: a copied row must start without the first call's values.
_FRESH_ROW: dict[str, Any] = {
    "executed": False,
    "is_recursive": False,
    "output_bytes": 0,
    "macs": 0,
    "flops": None,
    "flops_uncounted": 0,
    "activation_bytes": 0,
    "output_shapes": (),
    "depth_index": None,
    "_rows": None,
    "_index": 0,
    "_subtree_end": 0,
    "_leftover": None,
    "_leftover_trainable": None,
    "_leaf_macs": None,
    "_inner_layers": None,
}


def _weightish(name: str) -> bool:
    return "weight" in name or "bias" in name


@dataclass
class _Tree:
    stats: ParamStats
    exact_wb: int  # direct params named exactly weight/bias: the class-specific mult-add rule
    weightish: int  # every other param whose (relative) name mentions weight/bias


class ModuleFacts:
    def __init__(self, registry: ModuleRegistry) -> None:
        self._stats: dict[int, ParamStats] = {}
        self._macs: dict[tuple[int, tuple[int, ...]], int] = {}
        # Subtree sums for every module, bottom-up; None once a lazy module has made its parameters.
        self._tree: dict[int, _Tree] | None = _bottom_up(registry)
        self._templates: dict[int, dict[str, Any]] = {}
        self._first_rows: dict[int, Any] = {}

    def row_template(self, module: nn.Module) -> dict[str, Any] | None:
        """The attributes a new row of this module starts with, once it has had a first row."""
        key = id(module)
        template = self._templates.get(key)
        if template is None:
            first = self._first_rows.get(key)
            if first is None:
                return None
            # Built on the second call only: most modules run once and never need one.
            template = dict(first.__dict__)
            template.update(_FRESH_ROW)
            template["input_size"], template["output_size"] = [], []
            self._templates[key] = template
        return template

    def remember_first_row(self, module: nn.Module, row: Any) -> None:
        self._first_rows[id(module)] = row

    def stats(self, module: nn.Module, refresh: bool = False) -> ParamStats:
        key = id(module)
        if refresh:
            self._tree = None  # a lazy module just materialised: subtree sums are stale
            self._templates.clear()
            self._first_rows.clear()
        if self._tree is not None and key in self._tree:
            return self._tree[key].stats
        if refresh or key not in self._stats:
            self._stats[key] = module_param_stats(module)
        return self._stats[key]

    def macs(self, module: nn.Module, class_name: str, output_size: list[int], refresh: bool = False) -> int:
        key = (id(module), tuple(output_size))
        if not refresh and key in self._macs:
            return self._macs[key]
        tree = None if self._tree is None else self._tree.get(id(module))
        if tree is not None and not refresh:
            value = macs_from_counts(class_name, output_size, tree.exact_wb, tree.weightish)
        else:
            value = torchinfo_macs(module, class_name, output_size)
        self._macs[key] = value
        return value


def _bottom_up(registry: ModuleRegistry) -> dict[int, _Tree] | None:
    """Subtree sums for every module, or None when sharing or lazy params make them inexact."""
    if registry.has_shared_modules:
        return None
    seen_params: set[int] = set()
    direct: dict[int, tuple[ParamStats, int, int]] = {}
    nothing = (ParamStats(), 0, 0)  # shared by the (many) modules without parameters of their own
    for place in registry.in_order:
        module = place.module
        if not module._parameters:
            direct[id(module)] = nothing
            continue
        stats, exact_wb, other = ParamStats(), 0, 0
        for name, param in module._parameters.items():
            if param is None:
                continue
            if id(param) in seen_params or is_lazy(param):
                return None
            seen_params.add(id(param))
            count, shown = effective_count(module, name, param)
            stats.count += count
            stats.nbytes += count * param.element_size()
            if param.requires_grad:
                stats.trainable += count
            if shown in ("weight", "bias"):
                exact_wb += count
            elif _weightish(shown):
                other += count
        direct[id(module)] = (stats, exact_wb, other)

    trees: dict[int, _Tree] = {}
    all_weightish: dict[int, int] = {}  # params of the subtree whose name relative to it mentions weight/bias
    empty_leaf = _Tree(ParamStats(), 0, 0)  # never changed: only the subtree sums of parents are added to
    for place in reversed(registry.in_order):  # children before parents
        module = place.module
        key = id(module)
        stats, exact_wb, other = direct[key]
        if stats is nothing[0] and not place.children:
            trees[key] = empty_leaf
            all_weightish[key] = 0
            continue
        total = ParamStats(stats.count, stats.trainable, stats.nbytes)
        nested = 0
        for child in place.children:
            sub = trees[id(child.module)]
            total.add(sub.stats)
            nested += sub.stats.count if _weightish(child.var_name) else all_weightish[id(child.module)]
        trees[key] = _Tree(total, exact_wb, other + nested)
        all_weightish[key] = exact_wb + other + nested
    return trees
