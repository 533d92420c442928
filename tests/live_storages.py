"""Peak bytes of live tensor storages during a real training step: an independent measure, written apart from
summarytool's estimator, for what torch's MemTracker cannot follow (frozen parameters: it hooks every
parameter's gradient) and for sharded runs (a DTensor counts its local shard; FSDP2's storage resizes)."""

from __future__ import annotations

import weakref

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten


def _local(t: torch.Tensor) -> torch.Tensor:
    local = getattr(t, "_local_tensor", None)  # a DTensor: this rank's shard
    return t if local is None else local


class LiveStorages(TorchDispatchMode):
    """Peak bytes of live tensor storages: those alive at the start plus every op's outputs until freed."""

    def __init__(self, existing: list[torch.Tensor]) -> None:
        super().__init__()
        self.live: dict[int, int] = {}
        self.current = self.peak = 0
        for t in existing:
            self._add(t)

    def _add(self, t: torch.Tensor) -> None:
        storage = _local(t).untyped_storage()
        key = storage._cdata
        if key not in self.live:
            self.live[key] = storage.nbytes()
            self.current += storage.nbytes()
            self.peak = max(self.peak, self.current)
            weakref.finalize(storage, self._gone, key)

    def _gone(self, key: int) -> None:
        self.current -= self.live.pop(key, 0)

    def _resized(self, storage: torch.UntypedStorage) -> None:
        key = storage._cdata
        if key in self.live:
            self.current += storage.nbytes() - self.live[key]
            self.live[key] = storage.nbytes()
            self.peak = max(self.peak, self.current)
        else:
            self._add(torch.empty(0).set_(storage))

    def __enter__(self) -> LiveStorages:
        # FSDP2 frees and re-allocates its unsharded parameters by resizing their storages, which
        # no dispatch mode sees: follow UntypedStorage.resize_ (as torch's MemTracker does).
        self._resize = resize = torch.UntypedStorage.resize_

        def resize_(storage: torch.UntypedStorage, size: int) -> None:
            resize(storage, size)
            self._resized(storage)

        torch.UntypedStorage.resize_ = resize_  # type: ignore[method-assign]
        return super().__enter__()

    def __exit__(self, *exc: object) -> None:
        torch.UntypedStorage.resize_ = self._resize  # type: ignore[method-assign]
        super().__exit__(*exc)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001
        out = func(*args, **(kwargs or {}))
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor):
                self._add(t)
        return out
