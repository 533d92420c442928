"""Count FLOPs at the ATen-op level and attribute them to every module call in progress.

A TorchDispatchMode sees each op after autograd and after composite ops are decomposed, so
`@`, `F.linear`, `F.conv*`, `einsum`, attention and RNN kernels are counted wherever they are
called; the recorder's stack of unfinished calls says which rows an op belongs to (a row's FLOPs
include its children's, like its parameter count).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from torch.utils._python_dispatch import TorchDispatchMode

from summarytool.analysis.flop_formulas import is_heavy, op_flops

# Backward pass estimate: the gradients w.r.t. an op's inputs and w.r.t. its weights each
# take one product of the forward's size (the usual 2x rule; the "6N" of training cost).
BACKWARD_FACTOR = 2


class FlopCounter(TorchDispatchMode):
    def __init__(self, stack: list[tuple[Any, ...]]) -> None:
        super().__init__()
        self.stack = stack  # the recorder's calls in progress: (module id, row, args)
        self.total = 0
        self.by_op: Counter[str] = Counter()
        self.uncounted: Counter[str] = Counter()

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        name = str(func._overloadpacket)
        try:
            flops = op_flops(func, args, kwargs, out)
        except Exception:  # sizes decided by the data (symbols on fake tensors) have no count
            flops = None
            name += " (data-dependent shape)"
        if flops is None:
            if is_heavy(name):
                self.uncounted_call(name)
            return out
        if flops:
            self.total += flops
            self.by_op[str(func._overloadpacket)] += flops
            for _, row, _ in self.stack:
                row.flops += flops
        return out

    def uncounted_call(self, name: str) -> None:
        """A call whose FLOPs are not known: the footer counts it, and the rows in progress are marked."""
        self.uncounted[name] += 1
        for _, row, _ in self.stack:
            row.flops_uncounted += 1
