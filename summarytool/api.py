"""summary(): validate arguments, build inputs, observe one forward pass, return ModelStatistics."""

from __future__ import annotations

import contextlib
import itertools
import math
import sys
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch
from torch import nn
from torch._subclasses.fake_tensor import unset_fake_temporarily

from summarytool.analysis.hierarchy import insert_missing_ancestors, link_rows
from summarytool.analysis.module_facts import ModuleFacts
from summarytool.analysis.params import is_lazy
from summarytool.capture.device_kernels import kernel_choices
from summarytool.capture.dry_run import (
    MetaKernelGaps,
    is_meta_pass,
    meta_copy,
    needs_copy,
    needs_cpu_lengths,
    symbolic_fake_mode,
    to_meta,
)
from summarytool.capture.guard import ModelStateGuard, preserved_rng
from summarytool.capture.hooks import CallRecorder, is_scripted, new_row, static_rows
from summarytool.capture.measured import (
    MeasuredMemory,
    Probe,
    copy_to,
    measure_train_step,
    measured_forward,
    probe_for,
    require_real_inputs,
)
from summarytool.capture.memory import OPTIMIZERS, AllocationTracker, MemoryReport, finish_step, foreach_on
from summarytool.capture.ops import FlopCounter
from summarytool.capture.precision import (
    autocast,
    cast_floating,
    cast_inputs,
    fake_world,
    is_mixed,
    low_dtype,
    parse_precision,
)
from summarytool.capture.registry import ModuleRegistry
from summarytool.enums import (
    DEFAULT_COLUMN_NAMES,
    DEFAULT_ROW_SETTINGS,
    FLOP_COLUMNS,
    INPUT_NEEDED_COLUMNS,
    Column,
    ColumnSettings,
    CostColumns,
    Mode,
    OutputRowSettings,
    Verbosity,
    parse_column,
    parse_row_setting,
)
from summarytool.errors import SummaryError
from summarytool.formatting import FormattingOptions
from summarytool.inputs import (
    check_batch_dim,
    check_dtypes,
    iter_tensors,
    make_inputs,
    map_tensors,
    move_to,
    normalize_input_size,
    prepare_input_data,
    shown_input_size,
    total_input_bytes,
)
from summarytool.model_statistics import ModelStatistics
from summarytool.records import LayerInfo
from summarytool.shapes import all_shapes

_cached_forward_pass: dict[str, list[LayerInfo]] = {}


def clear_cached_forward_pass() -> None:
    """Forget the rows kept by `cache_forward_pass=True`."""
    _cached_forward_pass.clear()


def summary(
    model: nn.Module,
    input_size: Any = None,
    input_data: Any = None,
    batch_dim: int | None = None,
    cache_forward_pass: bool | None = None,
    col_names: Iterable[str] | None = None,
    col_width: int = 25,
    depth: int = 3,
    device: torch.device | str | None = None,
    dtypes: Sequence[Any] | None = None,
    mode: str | Mode | None = "same",
    row_settings: Iterable[str] | None = None,
    verbose: int | None = None,
    *,
    train_step: bool | str = False,
    measure_memory: bool = False,
    precision: str = "fp32",
    **kwargs: Any,
) -> ModelStatistics:
    """Summarise `model` like ``torchinfo.summary`` (same arguments, same object, same table).

    Give ``input_size`` (shapes with the batch) or ``input_data`` (the actual arguments) to run one
    forward pass under ``torch.no_grad()``; without either, parameters are listed statically.
    The model is left exactly as it was: training flags, buffers, devices, hooks and RNG state.

    Beyond torchinfo: ``device="meta"`` is a dry run (nothing allocated, the model untouched);
    the ``flops``/``backward_flops`` columns count FLOPs per call; ``train_step=True`` (Adam) or
    ``"adamw"``/``"sgd"`` estimates the memory of a training step on meta copies, shown in the
    footer and, per call, in the ``activation_memory`` column. ``measure_memory=True`` measures on
    the device (CUDA: ``torch.cuda.max_memory_allocated``, resetting its peak statistic; CPU: live
    tensors): the forward pass and, with ``train_step``, a real training step on a copy of the model.
    ``precision`` is the training step's: ``"fp32"``, pure ``"bf16"``/``"fp16"`` or autocast
    ``"bf16-mixed"``/``"fp16-mixed"`` (fp32 master weights).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"summary() needs a torch.nn.Module, got {type(model).__name__}.")
    has_input = input_data is not None or input_size is not None
    columns = _parse_columns(col_names, has_input)
    rows_cfg = DEFAULT_ROW_SETTINGS if row_settings is None else {parse_row_setting(r) for r in row_settings}
    model_mode = Mode.SAME if mode is None else _parse(Mode, mode)
    if verbose is None:
        verbose = 0 if getattr(sys, "ps1", None) else 1
    _validate(input_data, input_size, columns, col_width, verbose, depth)
    check_dtypes(dtypes)
    check_batch_dim(batch_dim, normalize_input_size(input_size) if input_size is not None else ())
    requested_device = device
    optimizer = _parse_train_step(train_step, columns, has_input)
    if measure_memory and not has_input:
        raise ValueError("measure_memory needs input_size or input_data: it measures a real forward pass.")
    precision = parse_precision(precision)
    if precision != "fp32" and optimizer is None:
        raise ValueError(
            f"precision={precision!r} is the training step's: give train_step too (e.g. 'adamw')."
        )
    low = low_dtype(precision)
    mixed = is_mixed(precision)
    user_model, user_kwargs = model, kwargs
    dry_run = has_input and (
        optimizer is not None or (device is not None and torch.device(device).type == "meta")
    )
    if not dry_run:  # (an estimate runs on meta copies: it may name a device it cannot run on)
        if not measure_memory:  # (the measurement says it in its own words)
            _refuse_cuda_without_cuda(device)
        _refuse_meta_weights_on_a_real_device(model, device, input_size)
    # The cyclic collector stays on: a forward pass that makes reference cycles must free them as it
    # would without summarytool (pausing it doubled the peak memory of such a pass).
    # Inside torch.inference_mode() every tensor made would be an inference tensor (no version
    # counter, no autograd): the summary's own copies and training steps are made outside it.
    with preserved_rng(), torch.inference_mode(False), fake_world(precision):
        if optimizer is not None and is_scripted(model):
            raise ValueError(
                "A training-step estimate follows the forward pass module by module, and a TorchScript "
                "module runs without module hooks. Estimate the module before torch.jit.script()."
            )
        if dry_run and (optimizer is not None or needs_copy(model)) and not is_scripted(model):
            # (A ScriptModule cannot be copied this way; it gets no pass on meta, only its parameters.)
            # The caller's model is never touched: a training step would leave gradients even on a
            # model that is already on meta.
            model = meta_copy(model, torch.device("cpu") if mixed else torch.device("meta"))
            if low is not None and not mixed:
                cast_floating(model, low)  # pure low precision: weights, gradients, state
        # Measured memory: around the summary's own forward pass, or (with train_step, whose summary
        # pass is a dry run) on a copy of the caller's model on the device; checked before either runs.
        probe: Probe | None = None
        train_on: torch.device | None = None
        if optimizer is not None:
            # The estimate runs the optimizer as torch would on the device the model trains on.
            train_on = _resolve_device(
                itertools.chain(user_model.parameters(), user_model.buffers()), device, input_size
            )
            if measure_memory:
                probe_for(train_on)
            device = "cpu" if mixed else "meta"  # (mixed: fake CPU tensors, under CPU autocast)
        registry = ModuleRegistry(model, model.__class__.__name__)
        target = _resolve_device(registry.tensors(), device, input_size)
        if measure_memory and optimizer is None and input_size is not None:
            probe = probe_for(target)  # the pass runs there; said before inputs are made there
        _warn_half(dtypes, input_size, target)
        if input_size is not None:
            shapes = normalize_input_size(input_size)
            x: Any = make_inputs(shapes, batch_dim, dtypes, target)
            shown_size: Any = shown_input_size(input_size)
            kwargs = move_to(kwargs, target)
        elif input_data is not None:
            x, shown_size = prepare_input_data(input_data)
            user_x = x
            if measure_memory and optimizer is not None:
                require_real_inputs(user_x)  # before the estimate runs, not after
            if dry_run and mixed:  # fake CPU stand-ins (nothing allocated)
                x, kwargs = (map_tensors(v, lambda t: torch.empty_like(t, device="cpu")) for v in (x, kwargs))
            elif dry_run:  # generated inputs and their kwargs are made on meta already
                x, kwargs = to_meta(x), to_meta(kwargs)
            if measure_memory and optimizer is None:  # input_data is never moved: the pass runs where it is
                first = next(iter(iter_tensors(x)), None)
                probe = probe_for(target if first is None else first.device)
        else:
            x, shown_size = None, []
        if low is not None and not mixed and x is not None:
            x = cast_inputs(x, low)

        formatting = FormattingOptions(depth, verbose, columns, col_width, rows_cfg)
        # The model goes where generated inputs are (and comes back afterwards); input_data is never moved.
        # (A meta copy is on meta already, but for its 0-d tensors, which stay real on purpose.)
        run_on = target if input_size is not None and device is not None and model is user_model else None
        count_flops = dry_run or bool(FLOP_COLUMNS & set(columns))
        args = (
            model,
            registry,
            x,
            batch_dim,
            bool(cache_forward_pass),
            run_on,
            model_mode,
            formatting,
            kwargs,
            count_flops,
            None if optimizer is None else (optimizer, train_on, precision),
            probe,
        )
        try:
            try:
                capture = _collect_rows(*args)
            except SummaryError as exc:
                if dry_run and input_data is not None and needs_cpu_lengths(exc.__cause__ or exc):
                    # Packed-sequence lengths must be values on the CPU: keep them real and run again.
                    x = to_meta(user_x, keep_lengths=True)
                    args = (*args[:2], x, *args[3:])
                    capture = _collect_rows(*args)
                elif mixed or not (dry_run and _is_data_dependent_on_meta(exc.__cause__ or exc)):
                    raise
                else:
                    # Data-dependent ops (nonzero, boolean masks) cannot run on meta tensors; fake
                    # tensors can, with symbolic sizes (u0, u1, ...) where the data would decide.
                    try:
                        with symbolic_fake_mode():
                            capture = _collect_rows(*args)
                    except SummaryError:
                        raise exc from exc.__cause__  # the meta error says what to do instead
        except SummaryError as exc:
            hint = _missing_batch_hint(model, input_size) if batch_dim is None else None
            if hint is not None:
                cause = exc.__cause__
                exc = SummaryError(
                    f"{exc}\n{hint}", exc.partial_summary, exc.module_name, exc.module_class, exc.input_shapes
                )
                exc.__cause__ = cause
            if verbose and exc.partial_summary is not None:
                where = f"{exc.module_class} ({exc.module_name})"
                print(f"summarytool: the forward pass failed in {where}; the rows that ran:", file=sys.stderr)
                print(exc.partial_summary, file=sys.stderr)
            raise exc from exc.__cause__
        measured = capture.measured
        if measure_memory and optimizer is not None:
            if input_size is not None:
                fresh_inputs = lambda: make_inputs(shapes, batch_dim, dtypes, train_on)  # noqa: E731
            else:
                fresh_inputs = lambda: copy_to(user_x, train_on)  # noqa: E731
            training = {Mode.TRAIN: True, Mode.EVAL: False}.get(model_mode)
            with unset_fake_temporarily():  # a real step, outside a mixed estimate's fake tensors
                measured = measure_train_step(
                    user_model, fresh_inputs, user_kwargs, train_on, training, optimizer, precision=precision
                )
        summary_list, facts = capture.rows, capture.facts
        total_input = None if x is None else total_input_bytes(x)  # None without input, as torchinfo
        totals = facts.stats(model) if facts is not None else None
        stats = ModelStatistics(
            summary_list,
            shown_size,
            total_input,
            formatting,
            param_totals=totals,
            flop_counter=capture.flops,
            memory=capture.memory,
            measured_memory=measured,
        )
    # How this summary was made, for exports (the CLI adds its target).
    stats.run_settings = {
        "device": None if requested_device is None else str(requested_device),
        "dtypes": None if dtypes is None else [str(d) for d in dtypes],
        "batch_dim": batch_dim,
        "mode": model_mode.value,
        "train_step": optimizer,
        "measure_memory": bool(measure_memory),
    }
    if verbose > Verbosity.QUIET:
        print(stats)
    return stats


def _parse_train_step(train_step: Any, columns: tuple[Column, ...], has_input: bool) -> str | None:
    """The optimizer of the training-step memory estimate, or None when none was asked for."""
    if train_step is True:
        name: str | None = "adam"
    elif train_step is False or train_step is None:
        name = "adam" if CostColumns.ACTIVATION_MEMORY in columns else None
    elif isinstance(train_step, str) and train_step.lower() in OPTIMIZERS:
        name = train_step.lower()
    else:
        raise ValueError(f"train_step must be True, False or one of {OPTIMIZERS}, got {train_step!r}.")
    if name is not None and not has_input:
        raise ValueError("train_step needs input_size or input_data: the estimate runs a training step.")
    return name


def _parse(enum: type, value: Any) -> Any:
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(repr(e.value) for e in enum)
        raise ValueError(f"{value!r} is not a valid {enum.__name__}; choose from {allowed}.") from None


def _parse_columns(col_names: Iterable[str] | None, has_input: bool) -> tuple[Column, ...]:
    if col_names is None:
        return DEFAULT_COLUMN_NAMES if has_input else (ColumnSettings.NUM_PARAMS,)
    if isinstance(col_names, str):
        col_names = (col_names,)
    return tuple(parse_column(c) for c in col_names)


def _validate(
    input_data: Any,
    input_size: Any,
    columns: tuple[Column, ...],
    col_width: int,
    verbose: Any,
    depth: Any,
) -> None:
    if not isinstance(col_width, int) or col_width <= 0:
        raise ValueError(f"Column width must be greater than 0: col_width={col_width!r}")
    if verbose not in (0, 1, 2):
        raise ValueError(f"verbose must be 0 (quiet), 1 (default) or 2 (verbose), got {verbose!r}.")
    if not (isinstance(depth, int) and not isinstance(depth, bool) and depth >= 0) and depth != math.inf:
        raise ValueError(
            f"depth must be an int >= 0 (0 shows the root only) or float('inf') for every level, got {depth!r}."
        )
    if input_data is not None and input_size is not None:
        raise RuntimeError("Only one of (input_data, input_size) should be specified.")
    needs = [c.value for c in columns if c in INPUT_NEEDED_COLUMNS]
    if input_data is None and input_size is None and needs:
        raise ValueError(
            f"You must pass input_data or input_size in order to use columns: {needs}. "
            "Without input, only parameter columns (num_params, params_percent, kernel_size, groups, trainable) work."
        )


def _refuse_meta_weights_on_a_real_device(model: nn.Module, device: Any, input_size: Any) -> None:
    """A model built on meta has shapes but no values: it can be dry-run, never moved to a device."""
    if device is None or input_size is None or torch.device(device).type == "meta":
        return
    meta = next((n for n, p in model.named_parameters() if p.device.type == "meta"), None)
    if meta is not None:
        raise ValueError(
            f"The model's weights are on the meta device (shapes, no values; e.g. {meta!r}), so it cannot run "
            f"on {device!r}. Use device='meta' for a dry run that allocates nothing, or give it real weights "
            f"first: model.to_empty(device={str(device)!r}) and load a state dict."
        )


def _refuse_cuda_without_cuda(device: Any) -> None:
    """torch's own error for this is an AssertionError about how torch was compiled."""
    if device is not None and torch.device(device).type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"torch sees no CUDA GPU here (device={str(device)!r}). Use device='cpu', or device='meta' for a "
            "dry run that allocates nothing (a training-step estimate with train_step=True may still name "
            "device='cuda': it runs on meta copies as the GPU would)."
        )


def _missing_batch_hint(model: nn.Module, input_size: Any) -> str | None:
    """When input_size looks like one sample without its batch, say so (the error itself shows shapes)."""
    if input_size is None:
        return None
    try:
        shape = normalize_input_size(input_size)[0]
    except (TypeError, ValueError):
        return None
    first = next((m for m in model.modules() if hasattr(m, "in_channels") or hasattr(m, "in_features")), None)
    if first is None or not shape:
        return None
    channels = getattr(first, "in_channels", None)
    kernel = getattr(first, "kernel_size", None)
    if isinstance(channels, int) and isinstance(kernel, tuple):
        unbatched = len(shape) == len(kernel) + 1 and shape[0] == channels
    else:
        unbatched = len(shape) == 1 and shape[0] == getattr(first, "in_features", None)
    if not unbatched:
        return None
    return (
        f"This looks like a missing batch dimension: input_size={tuple(shape)} is one sample for "
        f"{type(first).__name__}. Give the batch too, input_size={(1, *shape)}, or pass batch_dim=0 to add it."
    )


def _resolve_device(tensors: Iterable[torch.Tensor], device: Any, input_size: Any) -> torch.device:
    """Where generated inputs go: the given device, else the first tensor's (parameters, then buffers),
    else the accelerator, else CPU."""
    if device is not None:
        return torch.device(device)
    for t in tensors:
        return t.device
    accel = getattr(torch, "accelerator", None)
    if accel is not None and input_size is not None and accel.is_available():
        current = accel.current_accelerator()
        if current is not None:
            return torch.device(current)
    return torch.device("cpu")


def _warn_half(dtypes: Any, input_size: Any, device: torch.device) -> None:
    if dtypes is None or not any(d in (torch.float16, torch.bfloat16) for d in dtypes):
        return
    if input_size is not None:
        warnings.warn(
            "Half precision is not supported with input_size parameter, and may output incorrect results. "
            "Try passing input_data directly.",
            stacklevel=3,
        )
    if device.type == "cpu":
        warnings.warn(
            "Half precision is not supported on cpu. Set the `device` field or pass `input_data` "
            "using the correct device.",
            stacklevel=3,
        )


class _Capture:
    """What one summary run observed: the rows, per-module facts and the FLOP counter (if any)."""

    def __init__(
        self,
        rows: list[LayerInfo],
        facts: ModuleFacts | None,
        flops: FlopCounter | None,
        memory: MemoryReport | None = None,
        measured: MeasuredMemory | None = None,
    ) -> None:
        self.rows = rows
        self.facts = facts
        self.flops = flops
        self.memory = memory
        self.measured = measured


def _collect_rows(
    model: nn.Module,
    registry: ModuleRegistry,
    x: Any,
    batch_dim: int | None,
    use_cache: bool,
    device: torch.device | None,
    mode: Mode,
    formatting: FormattingOptions,
    kwargs: dict[str, Any],
    count_flops: bool = False,
    optimizer: tuple[str, torch.device, str] | None = None,
    probe: Probe | None = None,
) -> _Capture:
    name = model.__class__.__name__
    use_cache = use_cache and optimizer is None and probe is None  # a cached pass measures nothing
    if use_cache and name in _cached_forward_pass:
        return _Capture(_cached_forward_pass[name], None, None)
    facts = ModuleFacts(registry)
    all_outputs = OutputRowSettings.ALL_OUTPUT_SHAPES in formatting.row_settings
    recorder = CallRecorder(registry, facts, batch_dim, count_flops, all_outputs)
    counter = FlopCounter(recorder.stack) if count_flops else None
    step = _TrainStep(*optimizer, recorder) if optimizer is not None else None
    measured: dict[str, Any] = {}
    run = (model, x, kwargs, mode, device, recorder, counter)
    if x is None or is_scripted(model):
        # A ScriptModule runs (for measured memory) unless this is a dry run: it has no meta copy.
        if x is not None and not all(t.device.type == "meta" for t in iter_tensors(x)):
            _run_forward(*run, None, step, probe, measured)
        rows = static_rows(registry, facts)
    else:
        rows = _run_forward(*run, formatting, step, probe, measured)
        rows = insert_missing_ancestors(rows, lambda place: new_row(place, facts, None))
    link_rows(rows, mark_recursive=True)
    if counter is not None:
        _sum_flops_of_rows_that_never_ran(rows)
    if use_cache:
        _cached_forward_pass[name] = rows
    report = None
    if probe is not None and measured:
        report = MeasuredMemory(str(probe.device), probe.method, **measured)
    return _Capture(rows, facts, counter, step.report if step is not None else None, report)


class _TrainStep:
    """A training step around the captured forward pass, for the memory estimate.

    It runs on meta copies but as it would on `train_on`: the optimizer's foreach kernels where torch
    uses them there, and the dropout and attention kernels that device runs.
    """

    def __init__(
        self, optimizer: str, train_on: torch.device, precision: str, recorder: CallRecorder
    ) -> None:
        self.optimizer = optimizer
        self.precision = precision
        self.autocast = autocast(precision)
        self.foreach = foreach_on(train_on)
        self.kernels = kernel_choices(train_on)
        self.tracker = AllocationTracker(recorder.stack)
        self.report: MemoryReport | None = None

    def start(self, model: nn.Module, x: Any, kwargs: dict[str, Any]) -> None:
        # (A lazy module's parameters have no storage until its first call makes them.)
        state = [t for t in (*model.parameters(), *model.buffers()) if not is_lazy(t)]
        self.tracker.add_existing([*state, *iter_tensors(x), *iter_tensors(kwargs)])
        self.tracker.exclude_from_activations(state)

    def finish(self, model: nn.Module, output: Any) -> None:
        self.report = finish_step(self.tracker, model, output, self.optimizer, self.foreach)
        self.report.precision = self.precision


def _sum_flops_of_rows_that_never_ran(rows: list[LayerInfo]) -> None:
    """A container that never ran (a ModuleList) shows the FLOPs of the rows directly under it."""
    for row in reversed(rows):
        if row.flops is not None:
            continue
        total, uncounted = 0, 0
        for child in row.children:
            if child.depth == row.depth + 1:
                total += child.flops or 0
                uncounted += child.flops_uncounted
        row.flops, row.flops_uncounted = total, uncounted


def _run_forward(
    model: nn.Module,
    x: Any,
    kwargs: dict[str, Any],
    mode: Mode,
    device: torch.device | None,
    recorder: CallRecorder,
    counter: FlopCounter | None,
    formatting: FormattingOptions | None = None,
    step: _TrainStep | None = None,
    probe: Probe | None = None,
    measured: dict[str, Any] | None = None,
) -> list[LayerInfo]:
    # A training-step estimate needs autograd (on meta copies); a plain summary runs without it.
    grad_mode = torch.enable_grad() if step is not None else torch.no_grad()
    try:
        # A training step writes the parameters of its meta copy: that is not the caller's model.
        guard = ModelStateGuard(model, device, recorder.registry.modules, warn_writes=step is None)
        # (Meta-kernel gaps are bridged for the backward pass and optimizer step too.)
        with guard, grad_mode, MetaKernelGaps() if is_meta_pass(x) else contextlib.nullcontext():
            if mode != Mode.SAME:
                guard.apply_mode(mode == Mode.TRAIN)
            if step is not None:
                step.start(model, x, kwargs)
            with (
                recorder,
                warnings.catch_warnings(),
                counter or contextlib.nullcontext(),
                step.tracker if step is not None else contextlib.nullcontext(),
                step.tracker.saved_tensor_hooks() if step is not None else contextlib.nullcontext(),
                step.kernels if step is not None else contextlib.nullcontext(),
                step.autocast if step is not None else contextlib.nullcontext(),
                _measured(probe, model, x, kwargs, measured),
            ):
                # Our hooks are global; torch warns that they also fire for torch.compile's wrapper,
                # which is exactly the row torchinfo shows (OptimizedModule above the model).
                warnings.filterwarnings(
                    "ignore", message=r"Using `torch.compile\(module\)` when there are global hooks"
                )
                if isinstance(x, Mapping):
                    output = model(**x, **kwargs)
                else:
                    output = model(*x, **kwargs)
            if step is not None:
                step.finish(model, output)
    except Exception as exc:
        raise _failure(exc, recorder, formatting) from exc
    return recorder.rows


def _measured(
    probe: Probe | None, model: nn.Module, x: Any, kwargs: dict[str, Any], into: dict[str, Any] | None
) -> Any:
    """Around the summary's forward pass when memory is measured (the model is on the device by then)."""
    if probe is None or into is None:
        return contextlib.nullcontext()
    existing = [*model.parameters(), *model.buffers(), *iter_tensors(x), *iter_tensors(kwargs)]
    return measured_forward(probe, existing, into)


def _is_data_dependent_on_meta(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "meta" in text and any(
        key in text for key in ("item()", "nonzero", "data-dependent", "copy out of meta", "data dependent")
    )


def _failure(exc: Exception, recorder: CallRecorder, formatting: FormattingOptions | None) -> SummaryError:
    failing = recorder.failing_call(exc)
    rows = list(recorder.rows)
    partial = None
    if formatting is not None and rows:
        link_rows(rows, mark_recursive=True)
        partial = ModelStatistics(rows, [], 0, formatting)
    executed = [r for r in recorder.rows if r.executed]
    where, cls, shapes = None, None, None
    if failing is not None:
        row, args = failing
        where = row.qualified_name or "<root>"
        cls = row.class_name
        shapes = all_shapes(args)
        head = (
            f"Failed to run summarytool: {cls} ({where}) raised {type(exc).__name__} "
            f"on input shapes {shapes}: {exc}"
        )
    else:
        head = f"Failed to run summarytool: {type(exc).__name__}: {exc}"
    if _is_data_dependent_on_meta(exc):
        head += (
            "\nThis op needs real tensor values (.item(), nonzero, boolean masks, data-dependent shapes), "
            "which a dry run on the meta device does not have. Summarise on a real device with a small "
            "input instead (e.g. device='cpu', batch 1), or move the data-dependent step out of forward()."
        )
    message = f"{head}\nExecuted layers up to: {executed}"
    return SummaryError(message, partial, where, cls, shapes)
