"""Where every module sits in the model tree (a module registered in two places has two placements)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch import nn


class Placement:
    """One position of a module in the `_modules` tree: its attribute name, depth and parent."""

    __slots__ = ("var_name", "module", "depth", "parent", "qualified_name", "children")

    def __init__(
        self, var_name: str, module: nn.Module, depth: int, parent: Placement | None, qualified_name: str
    ) -> None:
        self.var_name = var_name
        self.module = module
        self.depth = depth
        self.parent = parent
        self.qualified_name = qualified_name
        self.children: list[Placement] | tuple[()] = ()  # a leaf keeps the shared empty tuple


class ModuleRegistry:
    """The model tree walked once, depth first, in registration order (torchinfo's row order)."""

    def __init__(self, model: nn.Module, root_name: str) -> None:
        self.root = Placement(root_name, model, 0, None, "")
        self.in_order: list[Placement] = []
        self.by_module: dict[int, list[Placement]] = {}
        stack = [self.root]
        while stack:
            place = stack.pop()
            self.in_order.append(place)
            self.by_module.setdefault(id(place.module), []).append(place)
            modules = place.module._modules
            if not modules:
                continue
            prefix = place.qualified_name + "." if place.qualified_name else ""
            depth = place.depth + 1
            kids = [
                Placement(name, child, depth, place, prefix + name)
                for name, child in modules.items()
                if child is not None
            ]
            place.children = kids
            stack.extend(reversed(kids))
        self.has_shared_modules = len(self.by_module) != len(self.in_order)
        self.modules = [places[0].module for places in self.by_module.values()]
        self.has_compiled = any(
            type(m).__name__ == "OptimizedModule" or getattr(m, "_compiled_call_impl", None) is not None
            for m in self.modules
        )

    def tensors(self) -> Iterator[torch.Tensor]:
        """Every parameter, then every buffer, module by module (lazily: callers often want the first)."""
        for table in ("_parameters", "_buffers"):
            for module in self.modules:
                tensors = getattr(module, table)
                if tensors:  # most modules have none: no iterator made for them
                    for t in tensors.values():
                        if t is not None:
                            yield t

    def __contains__(self, module: nn.Module) -> bool:
        return id(module) in self.by_module

    def placement_for(self, module: nn.Module, running: list[tuple[Any, ...]]) -> Placement:
        """The placement of a call: the one whose parent is innermost on the running-module stack.

        `running` holds the calls in progress, each starting with the id of its module.
        """
        places = self.by_module[id(module)]
        if len(places) == 1:
            return places[0]
        by_parent = {id(p.parent.module): p for p in places if p.parent is not None}
        for mod_id, *_ in reversed(running):
            if mod_id in by_parent:
                return by_parent[mod_id]
        return places[-1]
