"""pytorch-summary's ``summary`` on summarytool's engine: change the import, keep the table.

``from summarytool.torchsummary import summary`` replaces ``from torchsummary import summary``
(PyPI ``torchsummary`` 1.5.1). The rows, parameter counts and the forward pass come from
``summarytool.summary`` (the torchinfo-compatible engine); this module only picks the rows
torchsummary shows and lays them out its way. On models where torchsummary's numbers are
right, the text is the same character for character.

What is kept from torchsummary
------------------------------
- One row per call of every module except the root model, ``nn.Sequential`` and
  ``nn.ModuleList``, named ``<Class>-<n>`` and numbered in the order the calls *finish*
  (torchsummary uses forward hooks, so a custom block comes after the layers inside it).
- The forward pass runs at batch 2 (BatchNorm needs more than one value per channel), in the
  model's current train/eval mode; the first dimension of every output is shown as
  ``batch_size`` (-1 by default). Like torchsummary, this is also done for outputs whose batch is
  not first, e.g. an RNN's ``h_n`` (num_layers, batch, hidden) reads ``[-1, 2, hidden]``.
- Sizes use 4 bytes per value whatever the dtype and MB = 1024**2; "Forward/backward pass size"
  is twice the output values of every row, containers included.

Where torchsummary 1.5.1 is wrong, and this module is not
---------------------------------------------------------
- Parameters of any name count (torchsummary counts only attributes named ``weight`` and
  ``bias``: an LSTM shows 0, a layer's extra ``nn.Parameter`` is missed), and each parameter's own
  ``requires_grad`` decides if it is trainable (torchsummary looks at ``weight`` only).
- The totals count every parameter of the model once: a module called twice, a module
  registered under two parents, tied weights, the root's own parameters and modules that did not
  run. A row whose parameters were already shown reads ``(recursive)``. torchsummary adds them
  again for every call (and gives a module registered under two parents two rows per call).
- ``device=None`` (the default) runs where the model's parameters are, so a CPU-only machine
  works (torchsummary defaults to "cuda"). An explicit "cuda" without CUDA falls back to the CPU
  with a warning (torchsummary falls back silently). The model is moved only for the pass.
- Tuple and list outputs may nest (an LSTM's ``(output, (h_n, c_n))`` lists three shapes;
  torchsummary raises AttributeError), ``None`` items are skipped, ``batch_size`` is shown in
  them too (torchsummary always shows -1 there) and their values are added, not multiplied.
- With several inputs "Input size (MB)" adds their sizes (torchsummary multiplies all the
  dimensions together, or fails when the inputs differ in rank).
- A model without parameters shows zeros (torchsummary raises AttributeError).
- ``input_size`` given as a dict, or a layer returning anything but tensors (a dict, a string,
  ``None``), is a TypeError that names the layer and what to use instead, raised before any table
  is printed, not an error from inside a hook.
- The forward pass changes nothing: no BatchNorm statistics updated, no RNG state consumed.
- ``summary`` returns ``(total_params, trainable_params)`` and ``summary_string`` returns
  ``(text, (total_params, trainable_params))``, as pytorch-summary's current source does (1.5.1
  returned None from ``summary``), with plain ints, not tensors.
"""

from __future__ import annotations

import math
import warnings
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn.modules import module as nn_module

from summarytool.analysis.params import direct_param_stats
from summarytool.api import summary as engine_summary
from summarytool.errors import SummaryError
from summarytool.records import LayerInfo
from summarytool.render.torchsummary_text import Footer, render_torchsummary
from summarytool.shapes import UnsupportedIOTypeError

__all__ = ["PROBE_BATCH", "summary", "summary_string"]

PROBE_BATCH = 2  # torchsummary's forward batch: BatchNorm in training mode needs two samples
_BYTES_PER_VALUE = 4.0
_MB = 1024.0**2


def summary(
    model: nn.Module,
    input_size: Any,
    batch_size: int = -1,
    device: torch.device | str | None = None,
    dtypes: Sequence[Any] | None = None,
) -> tuple[int, int]:
    """Print torchsummary's table for `model` and return ``(total_params, trainable_params)``.

    As pytorch-summary's current source does (1.5.1 on PyPI returned None). ``input_size`` is one
    shape without the batch, e.g. ``(3, 224, 224)``, or a list of shapes for several inputs.
    """
    text, totals = summary_string(model, input_size, batch_size, device, dtypes)
    print(text, end="")
    return totals


def summary_string(
    model: nn.Module,
    input_size: Any,
    batch_size: int = -1,
    device: torch.device | str | None = None,
    dtypes: Sequence[Any] | None = None,
) -> tuple[str, tuple[int, int]]:
    """torchsummary's table as text, and ``(total_params, trainable_params)``.

    ``dtypes`` gives one dtype per input (``torch.long`` or a tensor type like
    ``torch.LongTensor``); inputs are ``torch.rand`` cast to it, so integer inputs are zeros.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"summary() needs a torch.nn.Module, got {type(model).__name__}.")
    if isinstance(model, torch.jit.ScriptModule):
        raise TypeError(
            "TorchScript modules run without module hooks, so they have no per-layer rows. "
            "Summarise the module before torch.jit.script, or use summarytool.summary(model, ...)."
        )
    if isinstance(batch_size, bool) or not isinstance(batch_size, int):
        raise TypeError(f"batch_size must be an int (-1 shows the batch as -1), got {batch_size!r}.")
    shapes = _input_shapes(input_size)
    run_dtypes = None if dtypes is None else [getattr(d, "dtype", d) for d in dtypes]

    log = _OutputLog()
    try:
        with log:
            stats = engine_summary(
                model,
                input_size=[(PROBE_BATCH, *shape) for shape in shapes],
                dtypes=run_dtypes,
                device=_run_device(device),
                depth=1_000_000,
                mode="same",
                verbose=0,
            )
    except SummaryError as exc:
        # The engine itself rejects a string or object output, in the call that just finished:
        # name that layer in torchsummary's terms. Any other failure is the engine's to report.
        members = set(model.modules())
        shown = [c for c in log.calls if c.module in members and _shown_in_table(c.module, model)]
        last = shown[-1] if shown else None
        rejected = isinstance(exc.__cause__, UnsupportedIOTypeError)
        if not rejected or last is None or last is not log.calls[-1] or last.problem is None:
            raise
        raise _output_error(f"{type(last.module).__name__}-{len(shown)}", last.problem) from exc

    rows = _table_rows(model, stats.summary_list, log.calls, batch_size)
    footer = Footer(
        total_params=stats.total_params,
        trainable_params=stats.trainable_params,
        input_mb=abs(batch_size) * sum(math.prod(shape) for shape in shapes) * _BYTES_PER_VALUE / _MB,
        forward_backward_mb=2.0 * sum(r.values for r in rows) * _BYTES_PER_VALUE / _MB,
        params_mb=stats.total_params * _BYTES_PER_VALUE / _MB,
    )
    text = render_torchsummary([(r.name, r.shape_text, r.params_text) for r in rows], footer)
    return text, (stats.total_params, stats.trainable_params)


@dataclass
class _Call:
    """What one finished module call returned: its tensor shapes, or why it cannot be shown."""

    module: nn.Module
    is_tensor: bool
    shapes: list[list[int]]
    problem: str | None


@dataclass(frozen=True)
class _Row:
    name: str
    shape_text: str
    params_text: str
    values: int  # output values at the shown batch (torchsummary's per-row term of the pass size)


class _OutputLog:
    """Order in which calls finish and the structure of what they return.

    The engine's rows are in call order and keep only the first output shape; torchsummary's
    numbering follows call completion and it shows every tensor of a tuple output. This forward
    hook rides on the engine's own pass (it is registered first, so it also sees an output the
    engine then rejects) and records nothing else.
    """

    def __init__(self) -> None:
        self.calls: list[_Call] = []
        self._handle: Any = None

    def __enter__(self) -> _OutputLog:
        self._handle = nn_module.register_module_forward_hook(self._finished)
        return self

    def __exit__(self, *exc: object) -> None:
        self._handle.remove()

    def _finished(self, module: nn.Module, args: Any, output: Any) -> None:
        if isinstance(output, torch.Tensor):
            self.calls.append(_Call(module, True, [list(output.shape)], None))
            return
        shapes: list[list[int]] = []
        problem = _collect_shapes(output, shapes) if isinstance(output, (list, tuple)) else _kind(output)
        if problem is None and not shapes:
            problem = f"{_kind(output)} without tensors"
        self.calls.append(_Call(module, False, shapes, problem))


def _kind(value: Any) -> str:
    if value is None:
        return "None"
    name = type(value).__name__
    return f"{'an' if name[0] in 'aeiouAEIOU' else 'a'} {name}"


def _collect_shapes(seq: list[Any] | tuple[Any, ...], shapes: list[list[int]]) -> str | None:
    """Append the shapes of a (nested) list/tuple of tensors; the first non-tensor item is a problem."""
    for item in seq:
        if isinstance(item, torch.Tensor):
            shapes.append(list(item.shape))
        elif isinstance(item, (list, tuple)):
            problem = _collect_shapes(item, shapes)
            if problem is not None:
                return problem
        elif item is not None:  # e.g. MultiheadAttention(need_weights=False) returns (out, None)
            return f"{_kind(seq)} holding {_kind(item)}"
    return None


def _input_shapes(input_size: Any) -> list[tuple[int, ...]]:
    """One shape (without the batch) per input: a shape, or a list/tuple of shapes."""
    if isinstance(input_size, Mapping):
        raise TypeError(
            "input_size is a dict, but torchsummary-style summaries pass inputs by position: give "
            "one shape without the batch, e.g. (3, 224, 224), or a list of shapes. For a model that "
            "takes keyword or dict inputs use summarytool.summary(model, input_data={...})."
        )
    if not isinstance(input_size, (list, tuple)):
        raise TypeError(
            f"input_size must be a shape without the batch, e.g. (3, 224, 224), or a list of shapes; "
            f"got {type(input_size).__name__}: {input_size!r}."
        )
    if isinstance(input_size, list) and not input_size:
        raise ValueError("input_size is an empty list: give at least one input shape, e.g. (3, 224, 224).")
    if all(_is_dim(v) for v in input_size):
        candidates: list[Any] = [input_size]
    elif all(isinstance(v, (list, tuple)) for v in input_size):
        candidates = list(input_size)
    else:
        raise TypeError(
            f"input_size mixes sizes and shapes: {input_size!r}. Give one shape, e.g. (3, 224, 224), "
            "or a list of shapes, e.g. [(1, 16, 16), (1, 28, 28)]."
        )
    shapes = []
    for shape in candidates:
        if not all(_is_dim(v) and v > 0 for v in shape):
            raise ValueError(
                f"Every size in an input shape must be a positive int (the batch is not included): "
                f"{tuple(shape)!r} in input_size={input_size!r}."
            )
        shapes.append(tuple(shape))
    return shapes


def _is_dim(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _run_device(device: torch.device | str | None) -> torch.device | None:
    """None lets the engine use the parameters' device; "cuda" without CUDA becomes the CPU."""
    if device is None:
        return None
    target = torch.device(device.lower() if isinstance(device, str) else device)
    if target.type == "cuda" and not torch.cuda.is_available():
        warnings.warn(
            f"device={device!r} but CUDA is not available; summarising on the CPU instead "
            "(leave device out to use the device of the model's parameters).",
            stacklevel=3,
        )
        return torch.device("cpu")
    return target


def _values(shape: Sequence[int], batch_size: int) -> int:
    """Values of one tensor whose first dimension is shown as `batch_size` (-1 counts as one)."""
    return abs(batch_size) * math.prod(shape[1:]) if shape else 1


def _shown_in_table(module: nn.Module, model: nn.Module) -> bool:
    return module is not model and not isinstance(module, (nn.Sequential, nn.ModuleList))


def _output_error(name: str, problem: str) -> TypeError:
    return TypeError(
        f"Layer {name} returned {problem}; the torchsummary table shows only tensors or (nested) "
        "lists/tuples of tensors. Use summarytool.summary(model, input_size=...), which shows any "
        "output, or make the layer return tensors."
    )


def _table_rows(
    model: nn.Module, summary_list: list[LayerInfo], calls: list[_Call], batch_size: int
) -> list[_Row]:
    """The engine's executed rows in completion order, as torchsummary rows."""
    pending: dict[int, deque[LayerInfo]] = {}
    for info in summary_list:
        if info.executed:
            pending.setdefault(id(info.module), deque()).append(info)
    rows: list[_Row] = []
    for call in calls:
        queue = pending.get(id(call.module))
        if not queue:
            continue  # a module outside the model (the engine records only the model's own)
        info = queue.popleft()
        if not _shown_in_table(call.module, model):
            continue
        name = f"{type(call.module).__name__}-{len(rows) + 1}"
        if call.problem is not None:
            raise _output_error(name, call.problem)
        if call.is_tensor:
            shown: list[Any] = list(call.shapes[0])
            if shown:
                shown[0] = batch_size
        else:
            shown = [[batch_size, *shape[1:]] for shape in call.shapes]
        params = direct_param_stats(call.module).count
        params_text = "(recursive)" if info.is_recursive and params else f"{params:,}"
        values = sum(_values(shape, batch_size) for shape in call.shapes)
        rows.append(_Row(name, str(shown), params_text, values))
    return rows
