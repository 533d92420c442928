"""Leave the model as it was found: training flags, buffers, parameters, devices, RNG state.

torchinfo restores only the root's training flag (mixed train/eval sub-modules are lost), lets a
train-mode forward pass update BatchNorm statistics and may leave the model on another device.
Here everything is put back, also when the forward pass raises.
"""

from __future__ import annotations

import gc
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType

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
def paused_gc() -> Iterator[None]:
    """No cyclic collections while rows are built (reference counting still frees memory)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _entry(table: object, name: str) -> object:
    """`table[name]` or None; ScriptModules expose their tables through a wrapper without .get()."""
    try:
        return table[name]  # type: ignore[index]
    except (KeyError, RuntimeError):
        return None


class ModelStateGuard:
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

    def __enter__(self) -> ModelStateGuard:
        modules = self.modules if self.modules is not None else list(self.model.modules())
        self._training = [(m, m.training) for m in modules]
        self._buffers = []
        self._params = []
        for m in modules:
            for name, buf in m._buffers.items():
                if buf is not None:
                    # Cloned so a train-mode pass (BatchNorm statistics) can be undone; buffers are small.
                    self._buffers.append((m, name, buf, buf.detach().clone()))
            for name, p in m._parameters.items():
                if p is not None:
                    # A lazy parameter is written by its first forward pass: that is its design.
                    version = None if is_lazy(p) else p._version
                    self._params.append((m, name, p, version, p.requires_grad))
        dev = self.target_device
        self._moved_data = []
        if dev is not None and any(
            entry[2].device != dev
            for entry in self._params + self._buffers  # type: ignore[operator]
        ):
            # Keep each parameter's storage so it can be put back exactly after the pass.
            self._moved_data = [(entry[2], entry[2].data) for entry in self._params]
            self.model.to(dev)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for m, flag in self._training:
            if m.training != flag:  # (nn.Module.__setattr__ is slow; most flags never changed)
                m.training = flag
        written = 0
        with torch.no_grad():
            for m, name, original, saved in self._buffers:
                if _entry(m._buffers, name) is not original:
                    m._buffers[name] = original
                # Always copied back: kernels such as batch_norm update running statistics
                # without bumping the tensor's version counter.
                original.copy_(saved)
            for p, data in self._moved_data:
                p.data = data  # moved for the pass: put the original storage back
            for m, name, p, version, requires_grad in self._params:
                if _entry(m._parameters, name) is not p:
                    m._parameters[name] = p
                if p.requires_grad != requires_grad:
                    p.requires_grad_(requires_grad)
                if version is not None and p._version != version:
                    written += 1
        if written and self.warn_writes:
            warnings.warn(
                f"The model's forward pass wrote to {written} parameter(s) in place; summarytool never "
                "writes parameters, but cannot undo a forward pass that does.",
                stacklevel=3,
            )
