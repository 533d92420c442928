"""Leave the model as it was found: training flags, buffers, parameters, devices, RNG state.

torchinfo restores only the root's training flag (mixed train/eval sub-modules are lost), lets a
train-mode forward pass update BatchNorm statistics and may leave the model on another device.
Here everything is put back, also when the forward pass raises.
"""

from __future__ import annotations

import gc
import itertools
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any

import torch
from torch import nn

from summarytool.analysis.params import is_lazy


@contextmanager
def preserved_rng() -> Iterator[None]:
    """Random inputs and dropout draw from the global generators; give their state back after."""
    cpu = torch.get_rng_state()
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
    try:
        yield
    finally:
        torch.set_rng_state(cpu)
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)
        elif torch.cuda.is_initialized():
            # CUDA started during the summary: its generators go back to the fresh state they had
            # (their seed, nothing drawn), as if the summary had never used them.
            for generator in torch.cuda.default_generators:
                generator.manual_seed(generator.initial_seed())


@contextmanager
def frozen_heap() -> Iterator[None]:
    """The collector stays on, but skips what existed before the summary (gc.freeze).

    A summary makes ~100,000 objects on a 16k-module model; each collection would otherwise walk the
    whole heap (the model included) again. Cycles the forward pass makes are new objects and are
    collected as they would be without summarytool; what was frozen goes back at the end.
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _entry(table: object, name: str) -> object:
    """`table[name]` or None; ScriptModules expose their tables through a wrapper without .get()."""
    try:
        return table[name]  # type: ignore[index]
    except (KeyError, RuntimeError):
        return None


class ModelStateGuard:
    """Undo exactly what the summary's own pass did to the model, and nothing another thread did.

    - Training flags: only those the summary itself set (``mode="train"``/``"eval"``, through
      :meth:`apply_mode`) are put back, and only while they still hold the value it set.
    - Buffers are never written: while the pass runs, each module's buffer table answers the
      summarising thread with private copies (made when the pass first reads a buffer) and every
      other thread with the real buffers. So BatchNorm statistics updated by a train-mode pass,
      a buffer resized in place, or an inference tensor stay untouched, a pending backward pass
      keeps the version counters it saved, and another thread's training steps are kept.
      (ScriptModules and buffers on meta are not copied: the first has no such table, the second
      no values.)
    - Parameters moved to another device for the pass get their original storage back.
    - Every restore step runs even when one fails; the failures are reported together.
    ``requires_grad`` is never touched: the summary does not set it.
    """

    def __init__(
        self,
        model: nn.Module,
        target_device: torch.device | None = None,
        modules: list[nn.Module] | None = None,
        warn_writes: bool = True,
    ) -> None:
        self.model = model
        self.warn_writes = warn_writes
        self.target_device = target_device
        self.modules = modules
        self._set_flags: list[tuple[nn.Module, bool, bool]] = []
        self._isolated: list[tuple[nn.Module, dict[str, Any]]] = []
        self.failures: list[str] = []

    def __enter__(self) -> ModelStateGuard:
        modules = self.modules if self.modules is not None else list(self.model.modules())
        self._modules = modules
        self._thread = threading.get_ident()
        self._params = []
        for m in modules:
            for name, p in m._parameters.items():
                if p is not None:
                    # A lazy parameter is written by its first forward pass: that is its design.
                    # (Inference tensors keep no version counter.)
                    version = None if is_lazy(p) or p.is_inference() else p._version
                    self._params.append((m, name, p, version))
        # The pass sees private copies of the buffers (made when it first reads each one).
        self._isolated = []
        for m in modules:
            table = m.__dict__.get("_buffers")
            if type(table) is dict and table and not isinstance(m, torch.jit.ScriptModule):
                m.__dict__["_buffers"] = _ThreadBuffers(table, self._thread)
                self._isolated.append((m, table))
        dev = self.target_device
        self._moved_data = []
        if dev is not None and any(
            t.device != dev
            for m in modules
            for t in itertools.chain(m._parameters.values(), m._buffers.values())
            if t is not None
        ):
            # Keep each tensor's storage so it can be put back exactly after the pass.
            self._moved_data = [
                (t, t.data)
                for m in modules
                for t in itertools.chain(m._parameters.values(), m._buffers.values())
                if t is not None
            ]
            self.model.to(dev)
        return self

    def apply_mode(self, training: bool) -> None:
        """Run the pass with every module's flag set to `training`; remember which flags that changed."""
        before = [(m, m.training) for m in self._modules]
        self.model.train(training)
        self._set_flags = [(m, was, m.training) for m, was in before if m.training != was]

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for m, table in self._isolated:
            try:
                view = m.__dict__.get("_buffers")
                if isinstance(view, _ThreadBuffers):
                    view.merge_into(table)  # buffers another thread set or added meanwhile are kept
                    m.__dict__["_buffers"] = table
            except Exception as exc:  # noqa: BLE001 - every step runs; failures are reported together
                self.failures.append(f"buffers of {type(m).__name__}: {type(exc).__name__}: {exc}")
        self._isolated = []
        for m, was, ours in self._set_flags:
            if m.training == ours:  # not changed since (by the pass or another thread): ours to undo
                m.training = was
        self._set_flags = []
        for t, data in self._moved_data:
            try:
                t.data = data  # moved for the pass: put the original storage back
            except Exception as exc:  # noqa: BLE001
                self.failures.append(f"moving a tensor back to {data.device}: {type(exc).__name__}: {exc}")
        written = 0
        for m, name, p, version in self._params:
            try:
                if _entry(m._parameters, name) is not p:
                    m._parameters[name] = p
                if version is not None and p._version != version:
                    written += 1
            except Exception as exc:  # noqa: BLE001
                self.failures.append(f"parameter {name!r} of {type(m).__name__}: {type(exc).__name__}: {exc}")
        if written and self.warn_writes:
            warnings.warn(
                f"The model's forward pass wrote to {written} parameter(s) in place; summarytool never "
                "writes parameters, but cannot undo a forward pass that does.",
                stacklevel=3,
            )
        if self.failures:
            text = "; ".join(self.failures)
            if exc is None:
                raise RestoreError(f"summarytool could not put the model back as it was: {text}")
            warnings.warn(f"summarytool could not put the model back as it was: {text}", stacklevel=3)


class RestoreError(RuntimeError):
    """Some of the model's state could not be put back after the pass (every step was tried)."""


class _ThreadBuffers(dict):
    """A module's `_buffers` table that gives one thread private copies of the buffers.

    nn.Module reads a buffer with ``name in self._buffers`` and ``self._buffers[name]`` (Python
    calls, so these overrides see them) and sets one with ``self._buffers[name] = value``. The
    owning thread gets, and sets, its own copies; other threads use the table as it is.
    """

    __slots__ = ("_owner", "_mine")

    def __init__(self, table: dict[str, Any], owner: int) -> None:
        super().__init__(table)
        self._owner = owner
        self._mine: dict[str, Any] = {}

    def __getitem__(self, key: str) -> Any:
        if threading.get_ident() != self._owner:
            return dict.__getitem__(self, key)
        mine = self._mine
        if key in mine:
            return mine[key]
        value = dict.__getitem__(self, key)
        if isinstance(value, torch.Tensor) and value.device.type != "meta":
            with torch.inference_mode(False), torch.no_grad():
                copy = value.clone()  # an inference tensor's copy is an ordinary one, writable
            value = copy.requires_grad_(value.requires_grad) if value.is_leaf else copy
            mine[key] = value
        return value

    def __setitem__(self, key: str, value: Any) -> None:
        if threading.get_ident() == self._owner:
            self._mine[key] = value
        else:
            dict.__setitem__(self, key, value)

    def __contains__(self, key: object) -> bool:
        if threading.get_ident() == self._owner and key in self._mine:
            return True
        return dict.__contains__(self, key)

    def merge_into(self, table: dict[str, Any]) -> None:
        """Carry what other threads changed in this table over to the real one."""
        for key, value in dict.items(self):
            if table.get(key, _ABSENT) is not value:
                table[key] = value
        for key in [k for k in table if not dict.__contains__(self, k)]:
            del table[key]


_ABSENT = object()
