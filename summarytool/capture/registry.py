"""Where every module sits in the model tree (a module registered in two places has two placements)."""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import nn


@dataclass(eq=False)
class Placement:
    """One position of a module in the `_modules` tree: its attribute name, depth and parent."""

    var_name: str
    module: nn.Module
    depth: int
    parent: Placement | None
    qualified_name: str
    order: int = 0
    children: list[Placement] = field(default_factory=list)

    def ancestors(self) -> list[Placement]:
        """From depth 1 down to the parent (the root, depth 0, is excluded)."""
        chain: list[Placement] = []
        p = self.parent
        while p is not None and p.depth > 0:
            chain.append(p)
            p = p.parent
        chain.reverse()
        return chain


class ModuleRegistry:
    """The model tree walked once, depth first, in registration order (torchinfo's row order)."""

    def __init__(self, model: nn.Module, root_name: str) -> None:
        self.root = Placement(root_name, model, 0, None, "")
        self.in_order: list[Placement] = []
        self.by_module: dict[int, list[Placement]] = {}
        stack = [self.root]
        while stack:
            place = stack.pop()
            place.order = len(self.in_order)
            self.in_order.append(place)
            self.by_module.setdefault(id(place.module), []).append(place)
            kids = [
                Placement(
                    name,
                    child,
                    place.depth + 1,
                    place,
                    f"{place.qualified_name}.{name}" if place.qualified_name else name,
                )
                for name, child in place.module._modules.items()
                if child is not None
            ]
            place.children = kids
            stack.extend(reversed(kids))
        self.has_shared_modules = any(len(v) > 1 for v in self.by_module.values())

    def __contains__(self, module: nn.Module) -> bool:
        return id(module) in self.by_module

    def placement_for(self, module: nn.Module, running: list[int]) -> Placement:
        """The placement of a call: the one whose parent is innermost on the running-module stack."""
        places = self.by_module[id(module)]
        if len(places) == 1:
            return places[0]
        by_parent = {id(p.parent.module): p for p in places if p.parent is not None}
        for mod_id in reversed(running):
            if mod_id in by_parent:
                return by_parent[mod_id]
        return places[-1]
