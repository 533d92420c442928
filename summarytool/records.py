"""One row of a summary: a module call and what was measured on it. Data only; text lives in render/."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import nn

from summarytool.analysis import params as param_analysis
from summarytool.enums import ColumnSettings


def class_name_of(module: nn.Module) -> str:
    """torchinfo's row label: a ScriptModule's original name, else the module's own name."""
    if isinstance(module, torch.jit.ScriptModule):
        return str(getattr(module, "original_name", type(module).__name__))
    return module._get_name()


_MISSING = object()


def _attr(module: nn.Module, name: str) -> Any:
    """An instance attribute without nn.Module's slow __getattr__ fallback (None when absent)."""
    value = module.__dict__.get(name, _MISSING)
    if value is _MISSING:
        return getattr(module, name, None) if hasattr(type(module), name) else None
    return value


def kernel_size_of(module: nn.Module) -> int | list[int] | None:
    k = _attr(module, "kernel_size")
    if k is None:
        return None
    if isinstance(k, torch.Tensor):
        # Hugging Face's Encodec/Mimi convolutions keep kernel_size as a tensor (often 0-d).
        if k.device.type == "meta" or torch.is_floating_point(k) or k.numel() > 64:
            return None  # no values to show (a dry run), or not a kernel size at all
        return int(k) if k.ndim == 0 else [int(v) for v in k.reshape(-1).tolist()]
    if isinstance(k, Iterable):
        return [int(v) for v in k]
    if isinstance(k, int):
        return int(k)
    raise TypeError(f"{class_name_of(module)}.kernel_size has an unexpected type: {type(k)}")


def groups_of(module: nn.Module) -> int | None:
    g = _attr(module, "groups")
    return int(g) if isinstance(g, int) else None


class LayerInfo:
    """A module call (or, without input, a module) as one table row; torchinfo's attribute names."""

    # summarytool's own attributes start as these class values (each attribute not written in
    # __init__ is time saved on every module call); torchinfo's are set on every row, as there,
    # so vars(row) has the same keys on every row.
    qualified_name = ""  # where it sits in the model: "encoder.layers.0.linear1" ("" for the root)
    # Forward FLOPs of this call, children included (None: not counted in this summary),
    # and how many heavy ops without a FLOP formula ran inside it.
    flops: int | None = None
    flops_uncounted = 0
    # Bytes this call keeps alive for the backward pass (set by the training-step estimate).
    activation_bytes = 0
    # Every output's shape, with the all_output_shapes row setting (set by the call's hook).
    output_shapes: list[list[int]] | tuple[()] = ()
    # Filled by the hierarchy analysis: where this row's subtree ends in the summary list,
    # and the values that would otherwise need a scan of every descendant.
    _rows: list[LayerInfo] | None = None
    _index = 0
    _subtree_end = 0
    _leftover: int | None = None
    _leftover_trainable: int | None = None
    _leaf_macs: int | None = None
    # A container row inserted more than once for one placement (a ModuleList whose layers are
    # called between other calls): torchinfo inserts one object, so every copy shows its last index.
    _index_twin: LayerInfo | None = None
    # The first of those copies: collapsed at the depth limit it shows the container's count, so
    # the Param # column still adds up (torchinfo shows "(recursive)" on every copy there).
    first_of_repeats = False
    _inner_layers: dict[str, dict[ColumnSettings, Any]] | None = None

    def __init__(
        self,
        var_name: str,
        module: nn.Module,
        depth: int,
        parent_info: LayerInfo | None = None,
    ) -> None:
        self.layer_id = id(module)
        self.module = module
        self.class_name = class_name_of(module)
        self.var_name = var_name
        self.depth = depth
        self.parent_info = parent_info
        children = module._modules
        self.is_leaf_layer = not children or all(m is None for m in children.values())
        self.input_size: list[int] = []
        self.output_size: list[int] = []
        self.kernel_size = kernel_size_of(module)
        self.groups = groups_of(module)
        self.depth_index: int | None = None
        self.executed = False
        self.is_recursive = False
        self.contains_lazy_param = False
        self.num_params = 0
        self.trainable_params = 0
        self.param_bytes = 0
        self.output_bytes = 0
        self.macs = 0

    def __repr__(self) -> str:
        return f"{self.class_name}: {self.depth}"

    @classmethod
    def from_template(
        cls, template: dict[str, Any], var_name: str, depth: int, parent_info: LayerInfo | None
    ) -> LayerInfo:
        """A fresh row from the attributes of another row of the same module (one dict copy)."""
        row = cls.__new__(cls)
        attrs = row.__dict__
        attrs.update(template)
        attrs["var_name"] = var_name
        attrs["depth"] = depth
        attrs["parent_info"] = parent_info
        return row

    # ----- parameters -------------------------------------------------------------------
    def calculate_num_params(self) -> None:
        """Count this module's parameters (pruned ones through their mask, lazy ones skipped)."""
        stats = param_analysis.module_param_stats(self.module)
        self.num_params = stats.count
        self.trainable_params = stats.trainable
        self.param_bytes = stats.nbytes
        self.contains_lazy_param = stats.has_lazy
        self._inner_layers = None

    @property
    def inner_layers(self) -> dict[str, dict[ColumnSettings, Any]]:
        """The per-parameter rows shown with verbose=2 (the root lists only its direct params)."""
        if self._inner_layers is None:
            self._inner_layers = param_analysis.inner_layer_rows(
                self.module, is_root=self.parent_info is None
            )
        return self._inner_layers

    @inner_layers.setter
    def inner_layers(self, value: dict[str, dict[ColumnSettings, Any]]) -> None:
        self._inner_layers = value

    @property
    def backward_flops(self) -> int | None:
        """Estimated FLOPs of this call's backward pass (see summarytool.capture.ops)."""
        from summarytool.capture.ops import BACKWARD_FACTOR

        return None if self.flops is None else BACKWARD_FACTOR * self.flops

    def flops_to_str(self, backward: bool = False) -> str:
        value = self.backward_flops if backward else self.flops
        if value is None:
            return "--"
        text = f"{value:,}" if value > 0 else "--"
        return f"{text} *" if self.flops_uncounted else text

    @property
    def trainable(self) -> str:
        """'True', 'False', 'Partial', or '--' for a module without parameters."""
        if self.num_params == 0:
            return "--"
        if self.trainable_params == 0:
            return "False"
        if self.trainable_params == self.num_params:
            return "True"
        return "Partial"

    # ----- the subtree of rows below this one -----------------------------------------------
    @property
    def children(self) -> list[LayerInfo]:
        """Every row below this one in the table (all descendants, like torchinfo)."""
        if self._rows is None:
            return []
        return self._rows[self._index + 1 : self._subtree_end]

    @children.setter
    def children(self, value: list[LayerInfo]) -> None:
        # Setting children by hand detaches the row from the precomputed subtree.
        self._rows = list(value)
        self._index = -1
        self._subtree_end = len(value)
        self._leftover = self._leftover_trainable = self._leaf_macs = None

    def leftover(self, attr: str) -> int:
        """`attr` ("num_params" or "trainable_params") of this row that no (non-recursive) row below shows."""
        cached = self._leftover if attr == "num_params" else self._leftover_trainable
        if cached is not None:
            return cached
        return scan_leftover(getattr(self, attr), self.children, attr)

    def leftover_params(self) -> int:
        """Params of this row that no (non-recursive) descendant row shows."""
        return self.leftover("num_params")

    def leftover_trainable_params(self) -> int:
        return self.leftover("trainable_params")

    def leaf_macs(self) -> int:
        """Mult-adds of the leaf rows below this one (what a collapsed row shows)."""
        if self._leaf_macs is not None:
            return self._leaf_macs
        return sum(c.macs for c in self.children if c.is_leaf_layer)

    def subtree_macs(self) -> int:
        """Mult-adds of this call with what runs inside it: its own (a leaf) or its leaves' sum."""
        return self.macs if self.is_leaf_layer else self.leaf_macs()

    def own_params(self) -> int:
        """Params this row shows as its own: all of a leaf's, a container's leftover."""
        return self.num_params if self.is_leaf_layer else self.leftover_params()

    def own_trainable_params(self) -> int:
        return self.trainable_params if self.is_leaf_layer else self.leftover_trainable_params()

    # ----- torchinfo's cell strings (kept on the row for compatibility) -------------------------
    def get_layer_name(self, show_var_name: bool, show_depth: bool) -> str:
        name = self.class_name
        if show_var_name and self.var_name:
            name += f" ({self.var_name})"
        if show_depth and self.depth > 0:
            name += f": {self.depth}"
            if self.depth_index is not None:
                name += f"-{self.depth_index}"
        return name

    def num_params_to_str(self, reached_max_depth: bool) -> str:
        if self.num_params == 0:
            return "--"
        if self.is_recursive and not (reached_max_depth and self.first_of_repeats):
            return "(recursive)"
        if reached_max_depth or self.is_leaf_layer:
            text = f"{self.num_params:,}"
            return text if self.trainable_params else f"({text})"
        leftover = self.leftover_params()
        return f"{leftover:,}" if leftover > 0 else "--"

    def macs_to_str(self, reached_max_depth: bool) -> str:
        """Leaf rows show their own mult-adds; a collapsed row (at max depth) its leaves' sum."""
        if self.is_leaf_layer or reached_max_depth:
            total = self.subtree_macs()
            return f"{total:,}" if total > 0 else "--"
        return "--"

    def params_percent(self, total_params: int, reached_max_depth: bool, precision: int = 2) -> str:
        zero = " " * 5 + "--"
        if total_params == 0:
            return zero
        if self.is_recursive and not (reached_max_depth and self.first_of_repeats):
            return "(recursive)"
        shown = self.num_params if reached_max_depth else self.own_params()
        if shown == 0:
            return zero
        return f"{shown / total_params:>{precision + 5}.{precision}%}"


def scan_leftover(total: int, descendants: Sequence[LayerInfo], attr: str) -> int:
    """torchinfo main's rule for what a row owns beyond the rows below it (`attr` of a row).

    A non-recursive descendant takes its own count (a leaf) or its leftover; a recursive one takes
    its whole count once per module, unless that module was already met, and its subtree is skipped.
    So a stack whose shared embedding ran under another stack shows ``--``, not the embedding again.
    """
    seen: set[int] = set()
    i, n = 0, len(descendants)
    while i < n:
        row = descendants[i]
        i += 1
        if row.is_recursive:
            if row.layer_id not in seen:
                seen.add(row.layer_id)
                total -= getattr(row, attr)
            while i < n and descendants[i].depth > row.depth:
                i += 1
            continue
        seen.add(row.layer_id)
        total -= getattr(row, attr) if row.is_leaf_layer else row.leftover(attr)
    return total
