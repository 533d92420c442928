"""Value shadows: the real values of small meta tensors whose values are known, during a dry run.

Why: some code makes small index tensors from real values on the model's device and later reads them
back. ``pack_padded_sequence(x, lengths, enforce_sorted=False)`` sorts the (CPU) lengths, moves the
permutation to the input's device (meta, in a dry run), inverts it there (``empty_like``, ``arange``,
``scatter_``), and ``pad_packed_sequence`` copies the inverse back with ``.cpu()`` to index the lengths.
None of that depends on the model's data, but a meta tensor has no values, so the copy fails.

A shadow is the CPU tensor a meta tensor would hold. One is made only where its values are certain:

- a small integer or bool CPU tensor copied to meta (``.to(x.device)``), and a deterministic factory op
  on meta (``arange``, ``zeros``, ``full``; never a random one);
- an op whose tensor inputs all have shadows (or are real CPU tensors) runs on the shadows too, and
  its integer or bool outputs get the results (a view of a shadow is a view of it, so writes through
  either are seen by both); a write into a shadowed tensor is made on its shadow too;
- an ``empty`` tensor's values are unknown: it gets a shadow only once writes have covered every
  element (``fill_``, ``copy_``, ``index_put_``, a ``scatter_`` whose index reaches every element).

A write that cannot be repeated on the shadows (a value without a shadow written into a shadowed
tensor) drops the shadows of every tensor sharing that storage, and a shadow that cannot be computed
(an error, a shape or stride that differs from the meta tensor's) is not made: a tensor without a
shadow stays a meta tensor without values, and reading it fails as before. Never a made-up value.

Reading a shadowed meta tensor (``.cpu()``, ``.to("cpu")``, ``.item()``, a copy into a real tensor)
gives its shadow's values. Only tensors of at most `MAX_ELEMENTS` elements take part: indices and
lengths, cheap to compute twice. Tensor subclasses (fake tensors, ...) never get shadows.

Uses ``OpOverload._schema`` (which arguments an op writes, which outputs are views) and
``torch.Tag.nondeterministic_seeded``; both exist on every supported torch (2.8 and later).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten, tree_unflatten
from torch.utils.weak import WeakTensorKeyDictionary

MAX_ELEMENTS = 1 << 16
META = torch.device("meta")
CPU = torch.device("cpu")
aten = torch.ops.aten

# Ops whose outputs hold no values yet, and writes that say which elements they cover.
_EMPTY = {"empty", "empty_like", "empty_strided", "new_empty", "new_empty_strided", "empty_permuted"}
_COVERS_ALL = {"fill_", "zero_", "copy_"}
# Writes that change a tensor's size or storage: the new elements would hold no values.
_RESHAPES = {"resize_", "resize_as_", "set_", "as_strided_", "resize_as_sparse_"}
_NO_VALUE = object()
_READS = {aten._to_copy.default, aten.copy_.default, aten._local_scalar_dense.default}


class ValueShadows(TorchDispatchMode):
    """Keeps a real CPU shadow beside small meta tensors whose values are known (see the module)."""

    def __init__(self) -> None:
        super().__init__()
        self._values: Any = WeakTensorKeyDictionary()  # meta tensor -> CPU tensor of its values
        self._partial: Any = WeakTensorKeyDictionary()  # empty meta tensor -> (CPU tensor, written mask)
        self._dropped: set[int] = set()  # storages written without a shadow: their shadows are stale
        self._storages: set[int] = set()  # storages that have held a shadow (writes elsewhere need nothing)
        self._writes: dict[Any, list[int]] = {}
        self._views: dict[Any, bool] = {}

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        return self.run(func, args, kwargs or {})

    def run(self, func: Any, args: tuple, kwargs: dict) -> Any:
        """Run one op, keeping the shadows; another mode (``MetaKernelGaps``) calls this in its place of
        ``func(*args, **kwargs)``, which saves a mode of its own on every op of a dry run."""
        if func in _READS:
            read = self._read(func, args, kwargs)
            if read is not _NO_VALUE:
                return read
        out = func(*args, **kwargs)
        # Most ops neither write a shadowed storage nor make a small integer tensor: nothing more to do.
        written = self._written(func, args, kwargs)
        if written:
            if not any(_storage(t) in self._storages for t in written):
                return out
        elif not _may_shadow(out):
            return out
        flat, spec = tree_flatten((args, kwargs))
        try:
            if written:
                self._write(func, flat, spec, written)
            else:
                self._follow(func, flat, spec, out)
        except Exception:  # noqa: BLE001 - a shadow that cannot be computed is not made, never guessed
            for t in written:
                self._drop(t)
        return out

    # ---- reading values off meta -----------------------------------------------------------------

    def _read(self, func: Any, args: tuple, kwargs: dict) -> Any:
        """A copy of a shadowed meta tensor off meta, or its .item(): the shadow's values."""
        if func is aten._to_copy.default:
            device = kwargs.get("device")
            if device is not None and torch.device(device) != META:
                shadow = self.shadow(args[0])
                if shadow is not None:
                    return func(shadow, *args[1:], **kwargs)
        elif func is aten.copy_.default and not on_meta(args[0]):
            shadow = self.shadow(args[1])
            if shadow is not None:
                return func(args[0], shadow, *args[2:], **kwargs)
        elif func is aten._local_scalar_dense.default:
            shadow = self.shadow(args[0])
            if shadow is not None:
                return func(shadow)
        return _NO_VALUE

    def shadow(self, t: Any) -> torch.Tensor | None:
        """The CPU values of `t`: itself for a real CPU tensor, its shadow for a meta one, else None."""
        if not isinstance(t, torch.Tensor) or not _plain(t):
            return None
        if t.device == CPU:
            return t if t.numel() <= MAX_ELEMENTS else None
        if not t.is_meta:
            return None
        found = self._values.get(t)
        if found is None or _storage(t) in self._dropped:
            return None
        return found

    # ---- making and following shadows ---------------------------------------------------------

    def _follow(self, func: Any, flat: list, spec: Any, out: Any) -> None:
        """Shadows for a new op's meta outputs, where their values are certain."""
        outs = [o for o in tree_flatten(out)[0] if isinstance(o, torch.Tensor)]
        if not any(_eligible(o) for o in outs):
            return
        name = func._overloadpacket.__name__
        if name in _EMPTY:
            for o in outs:
                if _eligible(o):
                    values = torch.empty_strided(o.size(), o.stride(), dtype=o.dtype, device=CPU)
                    self._partial[o] = (values, torch.zeros(o.size(), dtype=torch.bool))
                    self._dropped.discard(_storage(o))
                    self._storages.add(_storage(o))
            return
        if torch.Tag.nondeterministic_seeded in func.tags:
            return  # (random values: the CPU's would not be the device's)
        shadows = self._shadows_of(flat, spec)
        if shadows is None:
            return
        cpu_args, cpu_kwargs = shadows
        result = [o for o in tree_flatten(func(*cpu_args, **cpu_kwargs))[0] if isinstance(o, torch.Tensor)]
        if len(result) != len(outs):
            return
        view = self._is_view(func)
        for o, values in zip(outs, result, strict=True):
            if _eligible(o) and _matches(o, values, view):
                self._values[o] = values
                self._storages.add(_storage(o))
                if not view:
                    self._dropped.discard(_storage(o))

    def _shadows_of(self, flat: list, spec: Any) -> tuple[tuple, dict] | None:
        """The op's arguments with every tensor replaced by its shadow (None if one has none), on the CPU."""
        cpu = []
        for a in flat:
            if isinstance(a, torch.Tensor):
                a = self.shadow(a)
                if a is None:
                    return None
            cpu.append(a)
        cpu_args, cpu_kwargs = tree_unflatten(cpu, spec)
        if cpu_kwargs.get("device") == META:
            cpu_kwargs = {**cpu_kwargs, "device": CPU}
        return tuple(cpu_args), cpu_kwargs

    def _write(self, func: Any, flat: list, spec: Any, written: list) -> None:
        """An in-place op on meta: the same write on the shadows, or the shadows dropped."""
        name = func._overloadpacket.__name__
        partial = {id(t): self._partial.get(t) for t in written}
        if name in _RESHAPES or any(not _plain(t) for t in written):
            for t in written:
                self._drop(t)
            return
        cpu = []
        for a in flat:
            if isinstance(a, torch.Tensor):
                entry = partial.get(id(a))
                a = entry[0] if entry is not None else self.shadow(a)
                if a is None:
                    for t in written:
                        self._drop(t)
                    return
            cpu.append(a)
        cpu_args, cpu_kwargs = tree_unflatten(cpu, spec)
        func(*cpu_args, **cpu_kwargs)
        for t in written:
            entry = partial.get(id(t))
            if entry is None:
                continue
            mask = _covered(name, entry[1], cpu_args, cpu_kwargs)
            if mask is None:  # a write that reads the unknown elements, or covers what it may
                self._drop(t)
            elif bool(mask.all()):
                del self._partial[t]
                self._values[t] = entry[0]
            else:
                self._partial[t] = (entry[0], mask)

    def _drop(self, t: torch.Tensor) -> None:
        if isinstance(t, torch.Tensor) and t.is_meta:
            self._partial.pop(t, None)
            self._dropped.add(_storage(t))

    # ---- what an op writes, and whether its outputs are views ----------------------------------

    def _written(self, func: Any, args: tuple, kwargs: dict) -> list[torch.Tensor]:
        """The meta tensors `func` writes to (its ``Tensor(a!)`` arguments)."""
        names = self._writes.get(func)
        if names is None:
            names = [
                i
                for i, arg in enumerate(func._schema.arguments)
                if arg.alias_info and arg.alias_info.is_write
            ]
            self._writes[func] = names
        if not names:
            return []
        schema = func._schema.arguments
        hits = []
        for i in names:
            value = args[i] if i < len(args) else kwargs.get(schema[i].name)
            values = value if isinstance(value, (list, tuple)) else [value]  # (Tensor(a!)[] out=)
            hits += [v for v in values if isinstance(v, torch.Tensor) and v.is_meta]
        return hits

    def _is_view(self, func: Any) -> bool:
        view = self._views.get(func)
        if view is None:
            view = any(r.alias_info is not None for r in func._schema.returns)
            self._views[func] = view
        return view


def _covered(name: str, mask: torch.Tensor, args: tuple, kwargs: dict) -> torch.Tensor | None:
    """The elements of an empty tensor known after a write (None: the write leaves it unknown)."""
    if name in _COVERS_ALL:
        return torch.ones_like(mask)
    if name == "scatter_" and "reduce" not in kwargs and len(args) == 4:
        return mask.clone().scatter_(args[1], args[2], True)
    if name == "index_put_" and not (args[3] if len(args) > 3 else kwargs.get("accumulate", False)):
        return mask.clone().index_put_(args[1], torch.tensor(True))
    return None


def _may_shadow(out: Any) -> bool:
    """Whether an op's output holds a tensor that could get a shadow."""
    if isinstance(out, torch.Tensor):
        return _eligible(out)
    if isinstance(out, (tuple, list)):
        return any(isinstance(o, torch.Tensor) and _eligible(o) for o in out)
    return False


def _plain(t: torch.Tensor) -> bool:
    return type(t) in (torch.Tensor, nn.Parameter)


def on_meta(value: Any) -> bool:
    """A tensor on the meta device (a fake tensor made there is one too)."""
    return isinstance(value, torch.Tensor) and value.is_meta


def _eligible(t: torch.Tensor) -> bool:
    """A meta tensor that may have a shadow: small, integer or bool, not a subclass."""
    return (
        t.is_meta
        and not (t.is_floating_point() or t.is_complex())
        and _plain(t)
        and t.layout == torch.strided
        and t.numel() <= MAX_ELEMENTS
    )


def _matches(meta: torch.Tensor, values: torch.Tensor, view: bool) -> bool:
    """The shadow has the meta tensor's layout (so views and strided reads agree)."""
    same = (
        type(values) is torch.Tensor
        and values.device == CPU
        and values.dtype == meta.dtype
        and values.size() == meta.size()
        and values.stride() == meta.stride()
    )
    return same and (not view or values.storage_offset() == meta.storage_offset())


def _storage(t: torch.Tensor) -> int:
    """The meta storage a tensor's elements live in (views share it); -1 for a tensor without one."""
    try:
        return t.untyped_storage()._cdata
    except (RuntimeError, NotImplementedError):  # (nested and sparse tensors have no single storage)
        return -1
