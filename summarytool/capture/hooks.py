"""Record one row per module call with global module hooks (nothing is registered on the model)."""

from __future__ import annotations

import math
import threading
from typing import Any

import torch
from torch import nn
from torch.nn.modules import module as nn_module

from summarytool.analysis.module_facts import ModuleFacts
from summarytool.capture.registry import ModuleRegistry, Placement
from summarytool.records import LayerInfo, class_name_of
from summarytool.shapes import all_shapes, io_shape, is_concrete


def new_row(place: Placement, facts: ModuleFacts, parent: LayerInfo | None) -> LayerInfo:
    """A row for one call (or listing) of the module at `place`.

    The first row of a module is built from scratch; later ones copy its starting values.
    """
    template = facts.row_template(place.module)
    if template is None:
        row = LayerInfo(place.var_name, place.module, place.depth, parent)
        stats = facts.stats(place.module)
        if stats.count or stats.has_lazy:  # (else the class defaults: zero, no lazy parameters)
            row.num_params = stats.count
            row.trainable_params = stats.trainable
            row.param_bytes = stats.nbytes
            row.contains_lazy_param = stats.has_lazy
        facts.remember_first_row(place.module, row)
    else:
        row = LayerInfo.from_template(template, place.var_name, place.depth, parent)
    row.qualified_name = place.qualified_name
    row._placement = place  # type: ignore[attr-defined]
    return row


def static_rows(registry: ModuleRegistry, facts: ModuleFacts) -> list[LayerInfo]:
    """Without input: every module placement once, in registration order."""
    rows: list[LayerInfo] = []
    by_place: dict[int, LayerInfo] = {}
    for place in registry.in_order:
        parent = by_place.get(id(place.parent)) if place.parent is not None else None
        row = new_row(place, facts, parent)
        by_place[id(place)] = row
        rows.append(row)
    return rows


class CallRecorder:
    """Pre-hook opens a row (call order), post-hook fills in shapes, bytes and mult-adds."""

    def __init__(
        self,
        registry: ModuleRegistry,
        facts: ModuleFacts,
        batch_dim: int | None,
        count_flops: bool = False,
        all_outputs: bool = False,
    ) -> None:
        self.registry = registry
        self.count_flops = count_flops
        self.all_outputs = all_outputs
        self.facts = facts
        self.batch_dim = batch_dim
        self.rows: list[LayerInfo] = []
        # The calls in progress: (id(module), row, positional args); what is left here after an
        # exception is the chain of modules that raised, innermost last.
        self.stack: list[tuple[int, LayerInfo, Any]] = []
        self._latest: dict[int, LayerInfo] = {}
        self._handles: list[Any] = []
        self._by_module = registry.by_module
        self._thread = threading.get_ident()

    def __enter__(self) -> CallRecorder:
        # Opaque to torch.compile: dynamo must not trace the bookkeeping (it cannot, and the
        # recorded rows must describe the real call, not a traced one).
        # Module hooks are process-wide: only calls from this thread are ours (another thread may be
        # running, or summarising, the same model at the same time).
        self._thread = threading.get_ident()
        pre, post = self._pre, self._post
        if self.registry.has_compiled:
            pre = torch.compiler.disable(pre, recursive=True)
            post = torch.compiler.disable(post, recursive=True)
        self._handles = [
            nn_module.register_module_forward_pre_hook(pre),
            nn_module.register_module_forward_hook(post),
        ]
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def _pre(self, module: nn.Module, args: Any) -> None:
        # Runs for every module call in the process while active: the common case is kept short.
        key = id(module)
        places = self._by_module.get(key)
        if places is None or threading.get_ident() != self._thread:
            return
        place = places[0] if len(places) == 1 else self.registry.placement_for(module, self.stack)
        parent = place.parent
        row = new_row(place, self.facts, None if parent is None else self._latest.get(id(parent.module)))
        if self.count_flops:
            row.flops = 0
        self.rows.append(row)
        self._latest[key] = row
        self.stack.append((key, row, args))

    def _post(self, module: nn.Module, args: Any, output: Any) -> None:
        key = id(module)
        if key not in self._by_module or threading.get_ident() != self._thread:
            return
        stack = self.stack
        if stack and stack[-1][0] == key:
            row = stack.pop()[1]
        else:  # a call that raised inside a caught exception left entries behind
            row = None
            while stack:
                mod_id, candidate, _ = stack.pop()
                if mod_id == key:
                    row = candidate
                    break
            if row is None:
                return
        row.executed = True
        batch_dim = self.batch_dim
        first = args[0] if args else None
        if batch_dim is None and first.__class__ is torch.Tensor and not first.is_nested:
            row.input_size = list(first.shape)
        else:
            row.input_size = io_shape(args, batch_dim)[0]
        if output.__class__ is torch.Tensor and not output.is_nested:
            size = row.output_size = list(output.shape)
            elem_bytes = output.element_size()
        else:
            shown, elem_bytes = io_shape(output, batch_dim)
            row.output_size = shown
            size = shown[0] if shown and isinstance(shown[0], list) else shown  # a dict's [[shape]]
        concrete = is_concrete(size)
        # A size decided by the data (a symbol on fake tensors) has no byte count and no mult-adds.
        row.output_bytes = elem_bytes * math.prod(size) if concrete else 0
        if self.all_outputs:
            row.output_shapes = all_shapes(output)
        refresh = row.contains_lazy_param
        if refresh:
            # Lazy modules get their real parameters (and their final class) in the first call.
            stats = self.facts.stats(module, refresh=True)
            row.num_params, row.trainable_params = stats.count, stats.trainable
            row.param_bytes, row.contains_lazy_param = stats.nbytes, stats.has_lazy
            row.class_name = class_name_of(module)
            row.is_leaf_layer = not any(m is not None for m in module._modules.values())
        # torchinfo's mult-adds come from parameters only; they are read after the call, which may
        # have made some (the count on the row was taken before it).
        if concrete and (row.num_params or refresh or module._parameters):
            row.macs = self.facts.macs(module, row.class_name, size, refresh=refresh)

    def failing_call(self, exc: BaseException | None = None) -> tuple[LayerInfo, Any] | None:
        """The call that raised `exc`: the innermost module call its traceback passes through.

        The traceback, not the stack of unfinished calls, decides: a child that raised inside a
        parent that caught it and failed later is not to blame, and a user's forward hook that
        raises belongs to the module it hooks. Without a usable traceback, the innermost unfinished
        call is taken.
        """
        module, args = None, None
        tb = exc.__traceback__ if exc is not None else None
        while tb is not None:
            frame = tb.tb_frame
            if frame.f_code is _CALL_IMPL_CODE:
                candidate = frame.f_locals.get("self")
                if candidate is not None and id(candidate) in self._by_module:
                    module, args = candidate, frame.f_locals.get("args")
            tb = tb.tb_next
        if module is not None:
            for key, row, call_args in reversed(self.stack):
                if key == id(module):
                    return row, call_args
            latest = self._latest.get(id(module))
            if latest is not None:
                return latest, args
        if not self.stack:
            return None
        _, row, args = self.stack[-1]
        return row, args


_CALL_IMPL_CODE = nn.Module._call_impl.__code__


def is_scripted(model: nn.Module) -> bool:
    return isinstance(model, torch.jit.ScriptModule)
