"""summary(): validate arguments, build inputs, observe one forward pass, return ModelStatistics."""

from __future__ import annotations

import contextlib
import itertools
import sys
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from summarytool.analysis.hierarchy import insert_missing_ancestors, link_rows
from summarytool.analysis.module_facts import ModuleFacts
from summarytool.analysis.params import is_lazy
from summarytool.capture.device_kernels import kernel_choices
from summarytool.capture.dry_run import (
    MetaKernelGaps,
    NumberNotFollowedError,
    is_meta_pass,
    meta_copy,
    needs_copy,
    needs_cpu_lengths,
    real_tensors,
    stopped_at,
    symbolic_fake_mode,
    to_meta,
)
from summarytool.capture.fast_paths import ordinary_paths
from summarytool.capture.guard import ModelStateGuard, frozen_heap, preserved_rng
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
from summarytool.capture.memory import AllocationTracker, MemoryReport, finish_step, foreach_on
from summarytool.capture.ops import FlopCounter
from summarytool.capture.precision import (
    autocast,
    autocast_rules,
    cast_floating,
    cast_inputs,
    fake_world,
)
from summarytool.capture.registry import ModuleRegistry
from summarytool.enums import (
    Mode,
    Verbosity,
)
from summarytool.errors import SummaryError
from summarytool.formatting import FormattingOptions
from summarytool.inputs import (
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
from summarytool.plan import SummaryPlan, make_plan
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
    plan = make_plan(
        model,
        input_size=input_size,
        input_data=input_data,
        batch_dim=batch_dim,
        cache_forward_pass=cache_forward_pass,
        col_names=col_names,
        col_width=col_width,
        depth=depth,
        device=device,
        dtypes=dtypes,
        mode=mode,
        row_settings=row_settings,
        verbose=verbose,
        train_step=train_step,
        measure_memory=measure_memory,
        precision=precision,
        kwargs=kwargs,
    )
    # The cyclic collector stays on: a forward pass that makes reference cycles must free them as it
    # would without summarytool (pausing it doubled the peak memory of such a pass); it only skips the
    # objects that existed before (frozen_heap), which is what made collections expensive. Inside
    # torch.inference_mode() every tensor made would be an inference tensor (no version counter, no
    # autograd): the summary's own copies and training steps are made outside it.
    with frozen_heap(), preserved_rng(), torch.inference_mode(False), fake_world(plan.precision):
        run = _prepare(model, plan)
        capture = _capture(run, plan)
        measured = _measure_step(model, run, plan) or capture.measured
        stats = _assemble(run, capture, measured, plan)
    stats.run_settings = plan.run_settings()
    if plan.verbose > Verbosity.QUIET:
        print(stats)
    return stats


@dataclass
class _Run:
    """Where and on what the pass runs: the model it runs on (a copy for a dry run) and its inputs."""

    model: nn.Module
    registry: ModuleRegistry
    x: Any
    kwargs: dict[str, Any]
    shown_size: Any
    target: torch.device
    run_on: torch.device | None  # where the model is moved for the pass (and back), if anywhere
    train_on: torch.device | None  # where the training step of an estimate would run
    probe: Probe | None
    user_x: Any = None
    shapes: list[tuple[int, ...]] | None = None


def _prepare(user_model: nn.Module, plan: SummaryPlan) -> _Run:
    """The model the pass runs on (the caller's, or a meta copy), the devices, and the inputs."""
    model, device, low, mixed = user_model, plan.device, plan.low_dtype, plan.mixed
    copy_it = plan.optimizer is not None or (needs_copy(model) and not is_scripted(model))
    if plan.dry_run and copy_it:
        # (A plain dry run of a ScriptModule lists its parameters: its submodules run without hooks.)
        # The caller's model is never touched: a training step would leave gradients even on a
        # model that is already on meta.
        model = meta_copy(model, torch.device("cpu") if mixed else torch.device("meta"))
        if low is not None and not mixed:
            cast_floating(model, low)  # pure low precision: weights, gradients, state
    # Measured memory: around the summary's own forward pass, or (with train_step, whose summary
    # pass is a dry run) on a copy of the caller's model on the device; checked before either runs.
    probe: Probe | None = None
    train_on: torch.device | None = None
    if plan.optimizer is not None:
        # The estimate runs the optimizer as torch would on the device the model trains on.
        tensors = itertools.chain(user_model.parameters(), user_model.buffers())
        train_on = _resolve_device(tensors, device, plan.input_size)
        if plan.measure_memory:
            probe_for(train_on)
        device = "cpu" if mixed else "meta"  # (mixed: fake CPU tensors, under train_on's autocast rules)
    registry = ModuleRegistry(model, model.__class__.__name__)
    target = _resolve_device(registry.tensors(), device, plan.input_size)
    if plan.measure_memory and plan.optimizer is None and plan.input_size is not None:
        probe = probe_for(target)  # the pass runs there; said before inputs are made there
    _warn_half(plan.dtypes, plan.input_size, target)
    kwargs, user_x, shapes = plan.forward_kwargs, None, None
    if plan.input_size is not None:
        shapes = normalize_input_size(plan.input_size)
        x: Any = make_inputs(shapes, plan.batch_dim, plan.dtypes, target)
        shown_size: Any = shown_input_size(plan.input_size)
        kwargs = move_to(kwargs, target)
    elif plan.input_data is not None:
        x, shown_size = prepare_input_data(plan.input_data)
        user_x = x
        if plan.measure_memory and plan.optimizer is not None:
            require_real_inputs(user_x)  # before the estimate runs, not after
        if plan.dry_run and mixed:  # fake CPU stand-ins (nothing allocated)
            x, kwargs = (map_tensors(v, lambda t: torch.empty_like(t, device="cpu")) for v in (x, kwargs))
        elif plan.dry_run:  # generated inputs and their kwargs are made on meta already
            x, kwargs = to_meta(x), to_meta(kwargs)
        if plan.measure_memory and plan.optimizer is None:  # input_data is never moved: it runs where it is
            first = next(iter(iter_tensors(x)), None)
            probe = probe_for(target if first is None else first.device)
    else:
        x, shown_size = None, []
    if low is not None and not mixed and x is not None:
        x = cast_inputs(x, low)
    # The model goes where generated inputs are (and comes back afterwards); input_data is never moved.
    # (A meta copy is on meta already, but for its 0-d tensors, which stay real on purpose.)
    has_target = plan.input_size is not None and device is not None and model is user_model
    run_on = target if has_target else None
    return _Run(model, registry, x, kwargs, shown_size, target, run_on, train_on, probe, user_x, shapes)


def _capture(run: _Run, plan: SummaryPlan) -> _Capture:
    """The pass, with the dry run's fallbacks; a failure says which module and what to do."""
    try:
        try:
            return _collect_rows(run, plan)
        except SummaryError as exc:
            cause = exc.__cause__ or exc
            if plan.dry_run and plan.input_data is not None and needs_cpu_lengths(cause):
                # Packed-sequence lengths must be values on the CPU: keep them real and run again.
                run.x = to_meta(run.user_x, keep_lengths=True)
                return _collect_rows(run, plan)
            if plan.mixed or not (plan.dry_run and _is_data_dependent_on_meta(cause)):
                raise
            # Data-dependent ops (nonzero, boolean masks) cannot run on meta tensors; fake tensors
            # can, with symbolic sizes (u0, u1, ...) where the data would decide.
            try:
                with symbolic_fake_mode():
                    return _collect_rows(run, plan)
            except (SummaryError, NumberNotFollowedError) as fake:
                # The meta error says what to do instead; the fake pass's says where it stopped.
                raise _with_fake_stop(exc, fake) from exc.__cause__
    except SummaryError as exc:
        hint = _missing_batch_hint(run.model, plan.input_size) if plan.batch_dim is None else None
        if hint is not None:
            cause = exc.__cause__
            exc = SummaryError(
                f"{exc}\n{hint}", exc.partial_summary, exc.module_name, exc.module_class, exc.input_shapes
            )
            exc.__cause__ = cause
        if plan.verbose and exc.partial_summary is not None:
            where = f"{exc.module_class} ({exc.module_name})"
            print(f"summarytool: the forward pass failed in {where}; the rows that ran:", file=sys.stderr)
            print(exc.partial_summary, file=sys.stderr)
        raise exc from exc.__cause__


def _with_fake_stop(exc: SummaryError, fake: Exception) -> SummaryError:
    """The meta error, with where the dry run's fake-tensor pass (sizes as symbols) stopped too."""
    cause = fake.__cause__ if isinstance(fake, SummaryError) and fake.__cause__ is not None else fake
    reason = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
    if isinstance(fake, NumberNotFollowedError):  # (its message names the line that read the number)
        line = f"With fake tensors (sizes the data decides as symbols): {reason}"
    else:
        line = f"With fake tensors (sizes the data decides as symbols) it stopped at {stopped_at(cause)}: {reason}"
    out = SummaryError(
        f"{exc}\n{line}", exc.partial_summary, exc.module_name, exc.module_class, exc.input_shapes
    )
    out.__cause__ = exc.__cause__
    return out


def _measure_step(user_model: nn.Module, run: _Run, plan: SummaryPlan) -> MeasuredMemory | None:
    """measure_memory with train_step: a real training step on a copy of the caller's model."""
    if not (plan.measure_memory and plan.optimizer is not None):
        return None
    train_on = run.train_on
    assert train_on is not None
    if run.shapes is not None:
        shapes = run.shapes
        fresh_inputs = lambda: make_inputs(shapes, plan.batch_dim, plan.dtypes, train_on)  # noqa: E731
    else:
        fresh_inputs = lambda: copy_to(run.user_x, train_on)  # noqa: E731
    training = {Mode.TRAIN: True, Mode.EVAL: False}.get(plan.mode)
    with real_tensors():  # a real step, outside a mixed estimate's fake tensors
        return measure_train_step(
            user_model,
            fresh_inputs,
            plan.forward_kwargs,
            train_on,
            training,
            plan.optimizer,
            precision=plan.precision,
        )


def _assemble(
    run: _Run, capture: _Capture, measured: MeasuredMemory | None, plan: SummaryPlan
) -> ModelStatistics:
    """The ModelStatistics of a finished capture; the display settings are made here, after it."""
    total_input = None if run.x is None else total_input_bytes(run.x)  # None without input, as torchinfo
    totals = capture.facts.stats(run.model) if capture.facts is not None else None
    return ModelStatistics(
        capture.rows,
        run.shown_size,
        total_input,
        plan.formatting(),
        param_totals=totals,
        flop_counter=capture.flops,
        memory=capture.memory,
        measured_memory=measured,
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


def _collect_rows(run: _Run, plan: SummaryPlan) -> _Capture:
    model = run.model
    name = model.__class__.__name__
    # (A cached pass measures nothing, and a training-step estimate is never cached.)
    use_cache = plan.cache and plan.optimizer is None and run.probe is None
    if use_cache and name in _cached_forward_pass:
        return _Capture(_cached_forward_pass[name], None, None)
    facts = ModuleFacts(run.registry)
    recorder = CallRecorder(run.registry, facts, plan.batch_dim, plan.count_flops, plan.all_output_shapes)
    counter = FlopCounter(recorder.stack) if plan.count_flops else None
    step = None
    if plan.optimizer is not None:
        assert run.train_on is not None
        step = _TrainStep(plan.optimizer, run.train_on, plan.precision, recorder)
    measured: dict[str, Any] = {}
    args = (model, run.x, run.kwargs, plan.mode, run.run_on, recorder, counter)
    if run.x is None or is_scripted(model):
        # A ScriptModule's submodules run without hooks: its rows are its modules' parameters. It
        # runs for measured memory or a training-step estimate (on its copy), not for a dry run.
        on_meta = all(t.device.type == "meta" for t in iter_tensors(run.x))
        if run.x is not None and (step is not None or not on_meta):
            _run_forward(*args, plan, step, run.probe, measured)
        rows = static_rows(run.registry, facts)
    else:
        rows = _run_forward(*args, plan, step, run.probe, measured)
        rows = insert_missing_ancestors(rows, lambda place: new_row(place, facts, None))
    link_rows(rows, mark_recursive=True)
    if counter is not None:
        _sum_flops_of_rows_that_never_ran(rows)
    if use_cache:
        _cached_forward_pass[name] = rows
    report = None
    if run.probe is not None and measured:
        report = MeasuredMemory(str(run.probe.device), run.probe.method, **measured)
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
        self.rules = autocast_rules(precision, train_on)  # whose autocast op lists: "cpu", "cuda" or None
        self.autocast = autocast(precision, self.rules)
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
        self.report.autocast_rules = self.rules
        if self.rules is not None:
            whose = "CUDA's (on fake CPU tensors)" if self.rules == "cuda" else "the CPU's"
            self.report.notes.append(f"autocast to {self.precision} with {whose} op lists")


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
    plan: SummaryPlan | None = None,
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
        on_meta = is_meta_pass(x)
        # (A mixed estimate's fake CPU pass has the same gaps: NMS counts, views of data-decided counts.)
        fake_cpu = plan is not None and plan.dry_run and plan.mixed
        with (
            guard,
            grad_mode,
            MetaKernelGaps() if on_meta or fake_cpu else contextlib.nullcontext(),
            contextlib.nullcontext() if on_meta else ordinary_paths(recorder.registry.modules),
        ):
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
                # torchvision's fake NMS kernel (a dry run's, not the user's code) calls an API newer
                # torch deprecates.
                warnings.filterwarnings("ignore", message=r"`create_unbacked_symint` is deprecated")
                if isinstance(x, Mapping):
                    output = model(**x, **kwargs)
                else:
                    output = model(*x, **kwargs)
            if step is not None:
                step.finish(model, output)
    except Exception as exc:
        raise _failure(exc, recorder, None if plan is None else plan.formatting()) from exc
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
        partial.partial = True
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
