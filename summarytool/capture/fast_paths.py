"""torch's fused inference paths of ``nn.TransformerEncoder`` and its layers, left out of a summary's pass.

In eval mode under ``no_grad`` (a summary's pass), ``nn.TransformerEncoderLayer`` runs one fused kernel
(``_transformer_encoder_layer_fwd``) instead of its submodules, and ``nn.TransformerEncoder`` given a
padding mask first packs the batch into a nested tensor without the padded positions. The layers' inner
modules then never run: a summary saw neither their rows nor their mult-adds (a 2-layer encoder showed 0),
and the dry run, where torch never takes these paths (meta is not one of their devices), disagreed with
the CPU run. torchinfo takes the ordinary path for the layers as well (torch skips the fused kernel for a
module with hooks, and torchinfo's hooks are per module; ours are global), and fails on the nested one.

So while such a model runs in a summary, a do-nothing ``TorchFunctionMode`` is active: torch checks
``has_torch_function`` before each of these paths (in ``TransformerEncoder``, ``TransformerEncoderLayer``
and ``MultiheadAttention``) and takes the ordinary one, the ops the layers run in training, with the same
outputs at the positions that are not padding. Mult-adds and sizes count every position the table's shapes
show, padded ones included; the nested path skips those, so an inference pass with padding costs somewhat
less. The mode is thread-local (other threads running the model keep their fast paths), and only models
with these modules pay its per-call cost. If a torch release stopped checking ``has_torch_function``
there, the fused path would be taken again: ``tests/capture/test_dry_run_causes.py`` would say so.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import Any

from torch import nn
from torch.overrides import TorchFunctionMode

FUSED = (nn.TransformerEncoder, nn.TransformerEncoderLayer)


class _OrdinaryPaths(TorchFunctionMode):
    """Runs every call as it is; being active is what makes torch skip its fused paths."""

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        return func(*args, **(kwargs or {}))


def ordinary_paths(modules: Iterable[nn.Module]) -> contextlib.AbstractContextManager[Any]:
    """Around a pass over `modules`: torch's ordinary transformer path where it would take a fused one."""
    if any(isinstance(m, FUSED) for m in modules):
        return _OrdinaryPaths()
    return contextlib.nullcontext()
