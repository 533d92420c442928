"""Dry runs: summarise a model on the meta device without allocating or touching its weights.

The model's module tree is copied with every parameter and buffer replaced by a meta tensor of
the same shape, dtype and requires_grad (no data is copied), and the summary runs on the copy.
A 70B-parameter model costs a few megabytes of Python objects this way.
"""

from __future__ import annotations

import contextlib
import copy
import traceback
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves, tree_map

from summarytool.analysis.params import is_lazy
from summarytool.capture.scripted import scripted_copy
from summarytool.capture.stand_ins import stand_ins
from summarytool.capture.value_shadows import ValueShadows, on_meta
from summarytool.inputs import map_tensors, move_to

META = torch.device("meta")


def needs_copy(model: nn.Module) -> bool:
    """True when some parameter or buffer holds real data (a meta model runs as it is)."""
    for t in (*model.parameters(), *model.buffers()):
        if t.device.type != "meta":
            return True
    return False


def meta_copy(model: nn.Module, device: torch.device = META) -> nn.Module:
    """The model's structure with meta tensors in place of its parameters and buffers.

    With another `device` (inside a FakeTensorMode: a mixed-precision estimate), empty tensors on
    that device stand in instead; under the fake mode they allocate nothing either.
    """
    advice = (
        "Build the model on the meta device instead (`with torch.device('meta'): model = Model(...)`) "
        "and pass that to summary(..., device='meta')."
    )
    if device != META:
        return _copy_with(
            model, lambda t: torch.empty_like(t, device=device), "a dry run", advice, device, fake=True
        )
    return _copy_with(model, _meta_like, "a dry run", advice, META)


def _meta_like(t: torch.Tensor) -> torch.Tensor:
    # A 0-d tensor stays real (a copy on its own device): torch mixes 0-d CPU tensors with tensors
    # on any device, and code reads them as numbers (BatchNorm with momentum=None divides by
    # num_batches_tracked.item()). Everything else becomes meta: no data is copied.
    if t.ndim == 0 and t.device.type != "meta":
        return t.detach().clone()
    return torch.empty_like(t, device=META)


def device_copy(model: nn.Module, device: torch.device) -> nn.Module:
    """The model with its parameters and buffers copied to `device` (uninitialised where they are meta)."""

    def make(t: torch.Tensor) -> torch.Tensor:
        out = torch.empty_like(t, device=device)
        if t.device.type != "meta":
            with torch.no_grad():
                out.copy_(t)  # (a detach() would make a view of the caller's tensor)
        return out

    advice = (
        "A measured training step runs on a copy: make the module deep-copyable, or measure the forward "
        "pass alone (measure_memory=True without train_step runs on the model itself)."
    )
    return _copy_with(model, make, f"measuring memory on {device}", advice, device)


def _copy_with(
    model: nn.Module, make: Any, purpose: str, advice: str, device: torch.device, fake: bool = False
) -> nn.Module:
    """A deep copy whose tensors are `make(tensor)` (shared ones stay shared).

    Parameters, buffers and plain tensor attributes (a pruned module's computed ``weight``, the old
    ``weight_norm``'s, a mask kept as an attribute; with `fake`, tensors kept in a list or dict) are all replaced, so no real data is copied
    for a dry run and no tensor is left behind on another device. A lazy module's uninitialised
    parameters are made anew on `device`, where its first call materialises them.
    """
    if isinstance(model, torch.jit.ScriptModule):
        return scripted_copy(model, make)  # (deepcopy would copy its weights for real)
    memo: dict[int, Any] = {}
    for module in model.modules():
        for p in module._parameters.values():
            if p is None or id(p) in memo:
                continue
            if is_lazy(p):
                memo[id(p)] = type(p)(requires_grad=p.requires_grad, device=device, dtype=p.dtype)
                continue
            memo[id(p)] = nn.Parameter(make(p), requires_grad=p.requires_grad)
        for name, b in module._buffers.items():
            if b is None or id(b) in memo:
                continue
            memo[id(b)] = type(b)(device=device, dtype=b.dtype) if is_lazy(b) else make(b)
            if name.endswith("_mask") and b.device.type != "meta" and memo[id(b)].device.type == "meta":
                # A pruning mask on meta has no ones to count: keep the real count beside it.
                memo[id(b)].live_count = int(torch.count_nonzero(b))
        for name, value in module.__dict__.items():
            if name in _MODULE_SLOTS:
                continue
            # A tensor kept in a list, tuple or dict (torchvision's anchor generators) is copied for real on
            # meta: code mixes it with the CPU tensors it makes (SSD's box generator), as it does in a real
            # run, where module.to() leaves it on the CPU too. Under fake tensors (a mixed estimate) no real
            # copy can be made, and a fake CPU stand-in is as good.
            inside = isinstance(value, (list, tuple, dict)) and fake
            for t in tree_leaves(value) if inside else (value,):
                if isinstance(t, torch.Tensor) and id(t) not in memo:
                    memo[id(t)] = make(t.detach())
    try:
        return copy.deepcopy(model, memo)
    except torch.OutOfMemoryError:
        raise  # the device is full: not a module that cannot be copied
    except Exception as exc:  # a module holding something that cannot be copied
        raise RuntimeError(
            f"Cannot copy {type(model).__name__} for {purpose} ({type(exc).__name__}: {exc}). {advice}"
        ) from exc


# nn.Module's own dicts in __dict__ (their tensors are handled above as parameters and buffers)
_MODULE_SLOTS = frozenset({"_parameters", "_buffers", "_modules"})


def to_meta(x: Any, keep_lengths: bool = False) -> Any:
    """Inputs for a dry run: every tensor in a nested structure as a meta tensor of the same shape.

    With `keep_lengths`, 1-d integer CPU tensors stay real: ``pack_padded_sequence`` needs its
    lengths as values on the CPU (the retry when a dry run fails for that reason).
    """
    if not keep_lengths:
        return move_to(x, META)

    return map_tensors(x, lambda t: t if _is_length(t) else t.to(META))


def _is_length(t: torch.Tensor) -> bool:
    """A 1-d integer CPU tensor: what `to_meta` keeps real with `keep_lengths`."""
    return t.ndim == 1 and t.device.type == "cpu" and not t.is_floating_point() and not t.is_complex()


def needs_cpu_lengths(exc: BaseException) -> bool:
    """The dry run failed because packed-sequence lengths were moved to meta."""
    text = str(exc)
    return "lengths" in text and "CPU int64" in text


def _fake_tensor() -> Any:
    """torch's fake-tensor module, imported when first needed (without NumPy, importing it warns)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Failed to initialize NumPy")
        from torch._subclasses import fake_tensor

    return fake_tensor


@contextlib.contextmanager
def symbolic_fake_mode(composites: bool = True) -> Iterator[None]:
    """Fake tensors with a shape environment: data-dependent sizes become symbols (u0, u1, ...).

    A Python condition on such a size (``if boxes.numel() == 0:``) is decided at the largest size the
    op allows, and a number Python reads from one (``len(keep)``) is taken at that largest size and
    becomes the symbol again in the tensor made from it (see `_largest_sizes_classes`). Library
    functions that size their work by tensor values (box coordinates) have stand-ins (`stand_ins.py`).

    ``F.interpolate``, ``F.pad`` and the backward run under torch's Python dispatcher (`_SymbolicComposites`);
    with `composites` False (a mixed-precision estimate: autocast must see the ops a real step runs), only
    once the pass has a size the data decides (a detector's heads: without it they could not run at all).
    """
    mode, env = _largest_sizes_classes()
    shape_env = env()
    with mode(shape_env=shape_env, allow_non_fake_inputs=True), _SymbolicComposites(shape_env, composites):
        with stand_ins():
            yield


class _SymbolicComposites(TorchFunctionMode):
    """``F.interpolate``, ``F.pad`` and backward passes under torch's Python dispatcher (thread-local), as
    under torch.export.

    Their C++ kernels ask for a symbolic batch size as a number (Mask R-CNN's masks, Keypoint R-CNN's
    heatmaps: ``[Min(100, u9), ...]``); their Python decompositions keep it a symbol. Only these: with
    the dispatcher on for the whole pass, torch 2.8's decomposition of slicing turned ``keep[:5]`` of a
    data-decided count into a plain 5, and a mixed estimate's autocast saw other ops than a real step's
    (a bf16 transformer's estimate moved 8% away from the measured one). So with `always` False (a mixed
    estimate) they do so only after the pass made a data-decided size, which only such models do.
    """

    def __init__(self, shape_env: Any, always: bool = True) -> None:
        super().__init__()
        self.shape_env, self.always = shape_env, always

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        if func in _COMPOSITES and (self.always or self.shape_env.data_decided):
            with _python_dispatcher():
                return func(*args, **(kwargs or {}))
        return func(*args, **(kwargs or {}))


# (a backward pass too: the backward kernels of these ask for sizes as numbers in C++ as well)
_COMPOSITES = frozenset(
    {F.interpolate, F.pad, torch._C._nn.pad, torch.Tensor.backward, torch.autograd.backward}
)


class NumberNotFollowedError(RuntimeError):
    """Python read a data-decided size as a number, and no tensor size took it back (a loop count, ...)."""


@dataclass
class NumberRead:
    """A data-decided size that Python read as a number (``len(keep)``): it got its upper bound."""

    value: int
    size: Any  # the SymInt it stands for, put back in the tensor made from it
    where: str  # file:line of the code that read it
    used: bool = False


_CLASSES: list[tuple[type, type]] = []


def _largest_sizes_classes() -> tuple[type, type]:
    """A FakeTensorMode and a ShapeEnv that decide data-dependent sizes at their upper bounds.

    torch stops at a guard on an unbacked size (``Eq(4*u1, 0)`` where torchvision checks for no boxes,
    ``u0 < 1000`` before a top-k): the data would decide, and a dry run has none. Each symbol has the
    range its op allows (a ``nonzero`` of N elements gives at most N rows), so the guard is decided as
    if every element were kept: the branch the largest outputs take, the worst case for memory.
    Nothing is recorded as a fact, so the sizes stay symbols.

    Where the model's Python needs the number itself (``num_rois = len(rois)`` in torchvision's RoI
    pooler, ``int(keep.numel())``), it gets the upper bound, and the read is kept (`NumberRead`): the
    next factory op (``torch.zeros((num_rois, 256, 7, 7))``, ``new_empty``, ``arange``, ...) whose size
    holds that number gets the symbol back in its place, so that tensor's size, and everything computed
    from it, stays a symbol. A number no tensor size takes back (a loop count, ``n * 2``) would pass
    for a size the dry run knows: the pass stops with `NumberNotFollowedError` when it ends. So does a
    read inside an op's kernel (its output size would be the number), and a symbol without a finite
    upper bound (a box coordinate read with ``.item()``) leaves the guard undecided: the error stands.
    """
    if _CLASSES:
        return _CLASSES[0]
    import sympy
    from torch.fx.experimental.symbolic_shapes import GuardOnDataDependentSymNode, ShapeEnv

    fake = _fake_tensor()

    class LargestSizes(ShapeEnv):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.reads: list[NumberRead] = []
            self.in_op = 0  # > 0 while the fake mode runs an op's kernel
            self.data_decided = False  # True once a size the data decides exists (u0, ...)

        def create_unbacked_symint(self, *args: Any, **kwargs: Any) -> Any:
            self.data_decided = True
            return super().create_unbacked_symint(*args, **kwargs)

        def evaluate_expr(self, orig_expr: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return super().evaluate_expr(orig_expr, *args, **kwargs)
            except GuardOnDataDependentSymNode:
                value = self._at_upper_bounds(orig_expr)
                if value is None:
                    raise
                return value

        def _at_upper_bounds(self, expr: Any) -> Any:
            number = bool(expr.is_integer)  # (a Symbol is a sympy Boolean too)
            if number and (self.in_op or not _can_put_back(self)):
                return None  # a kernel would make a plain-number size of it
            if not number and not isinstance(expr, sympy.logic.boolalg.Boolean):
                return None  # (a float: no bound to take)
            bounds = {}
            for symbol in expr.free_symbols:
                known = _backed_values(self).get(symbol)
                if known is not None:
                    bounds[symbol] = known
                    continue
                upper = getattr(self.var_to_range.get(symbol), "upper", None)
                if upper is None or not (upper.is_number and upper.is_finite):
                    return None
                bounds[symbol] = upper
            value = sympy.simplify(expr.xreplace(bounds))
            if not number:
                return value if isinstance(value, sympy.logic.boolalg.BooleanAtom) else None
            where = _reader()
            if not (value.is_Integer and value >= 0) or where is None:
                return None  # (summarytool's own count, a FLOP formula's: it stays uncounted)
            self.reads.append(NumberRead(int(value), self.create_symintnode(expr, hint=None), where))
            return value

        def put_back(self, sizes: Any) -> Any:
            """`sizes` (an int or a list of them) with the latest unused read's number as its symbol."""
            many = isinstance(sizes, (list, tuple))
            items = list(sizes) if many else [sizes]
            for read in reversed(self.reads):
                if read.used or not any(type(v) is int and v == read.value for v in items):
                    continue
                items = [read.size if type(v) is int and v == read.value else v for v in items]
                read.used = True
                break
            return items if many else items[0]

    class LargestSizesMode(fake.FakeTensorMode):
        def __torch_dispatch__(
            self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None
        ) -> Any:
            env = self.shape_env
            where = _SIZE_ARGUMENT.get(func) if env.reads else None
            if where is not None and where < len(args):
                args = (*args[:where], env.put_back(args[where]), *args[where + 1 :])
            env.in_op += 1
            try:
                out = super().__torch_dispatch__(func, types, args, kwargs)
            finally:
                env.in_op -= 1
            return _symbolic_slice(args, out) if func is _SLICE else out

        def __enter__(self) -> Any:
            self.depth = (
                getattr(self, "depth", 0) + 1
            )  # (the fake mode enters itself again for decompositions)
            return super().__enter__()

        def __exit__(self, kind: Any, value: Any, tb: Any) -> Any:
            result = super().__exit__(kind, value, tb)
            self.depth -= 1
            unused = [r for r in self.shape_env.reads if not r.used]
            if kind is None and unused and not self.depth:
                read = unused[0]
                raise NumberNotFollowedError(
                    f"Python read a size the data decides ({read.size}) as a number at {read.where}; "
                    f"the dry run took its upper bound, {read.value}, and no tensor size took it back "
                    "(a loop count, arithmetic on it): what depends on it would pass for a known size."
                )
            return result

    _CLASSES.append((LargestSizesMode, LargestSizes))
    return _CLASSES[0]


_SLICE = torch.ops.aten.slice.Tensor


def _symbolic_slice(args: tuple, out: Any) -> Any:
    """``keep[:5]`` of a data-decided count, as ``Min(5, u0)`` rows where torch made them a plain 5.

    torch 2.8's decomposition of slicing asks whether the count is below the end, which the dry run
    decides at the count's upper bound (12 boxes: no), so the slice came out as 5 rows, a bound passing
    for a known size. Newer torch keeps ``Min(5, u0)``; this gives the same: a view of the first rows.
    """
    x, dim = args[0], args[1] if len(args) > 1 else 0
    given = list(args[2:5])
    start, end, step = given + [None, None, 1][len(given) :]
    size = x.shape[dim]
    plain = isinstance(out, torch.Tensor) and not isinstance(out.shape[dim], torch.SymInt)
    if not (plain and isinstance(size, torch.SymInt) and start in (None, 0) and step == 1):
        return out
    if type(end) is not int or end < 0:
        return out
    shape = list(out.shape)
    shape[dim] = torch.sym_min(end, size)
    return x.as_strided(shape, x.stride(), x.storage_offset())


def _size_arguments() -> dict[Any, int]:
    """Factory ops and where their size argument is: where a number read from a size becomes a size."""
    aten = torch.ops.aten
    found = {}
    for name, overload, index in (
        ("empty", "memory_format", 0),
        ("zeros", "default", 0),
        ("ones", "default", 0),
        ("full", "default", 0),
        ("rand", "default", 0),
        ("randn", "default", 0),
        ("new_empty", "default", 1),
        ("new_zeros", "default", 1),
        ("new_ones", "default", 1),
        ("new_full", "default", 1),
        ("arange", "default", 0),
        ("arange", "start", 1),
        ("arange", "start_step", 1),
    ):
        op = getattr(getattr(aten, name, None), overload, None)
        if op is not None:
            found[op] = index
    return found


_SIZE_ARGUMENT = _size_arguments()


def _can_put_back(env: Any) -> bool:
    """This torch's ShapeEnv can make a SymInt of an expression (without it, a read number stops the run)."""
    return callable(getattr(env, "create_symintnode", None)) and hasattr(env, "var_to_range")


def _reader() -> str | None:
    """file:line of the model's code that reads a size as a number; None when summarytool's own code reads it.

    The innermost frame outside torch decides: a FLOP formula or a byte count of summarytool's asks for
    the number of a symbolic size too, and must get the error (its count stays uncounted), not a bound.
    """
    for frame in reversed(traceback.extract_stack()):
        if frame.filename.startswith(_TORCH_DIR) or frame.filename == __file__:
            continue
        if frame.filename.startswith(_PACKAGE):
            return None
        return f"{frame.filename.rsplit('/', 1)[-1]}:{frame.lineno}"
    return None


def stopped_at(exc: BaseException) -> str:
    """file:line where the model's code was when `exc` was raised (the innermost frame outside torch)."""
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if not frame.filename.startswith((_TORCH_DIR, _PACKAGE)):
            return f"{frame.filename.rsplit('/', 1)[-1]}:{frame.lineno}"
    return "?"


# Frames in these are not the model's code (see `_reader`, `stopped_at`).
_TORCH_DIR = torch.__file__.rsplit("/", 1)[0] + "/"
_PACKAGE = __file__.rsplit("/", 3)[0] + "/summarytool/"


def _backed_values(env: Any) -> dict[Any, Any]:
    """The hints of backed symbols (``backed_var_to_val`` on newer torch, ``var_to_val`` on older)."""
    values = getattr(env, "backed_var_to_val", None)
    return values if values is not None else getattr(env, "var_to_val", {})


def real_tensors() -> Any:
    """Inside a fake-tensor mode, make real tensors again for a while (a measured step)."""
    return _fake_tensor().unset_fake_temporarily()


class MetaKernelGaps(TorchDispatchMode):
    """Ops whose meta kernels refuse inputs their real kernels take: run them on stand-ins.

    torch's meta kernel for ``_grouped_mm`` (Mixtral-style mixture-of-experts layers) wants bf16 or
    fp16, while the CPU kernel takes fp32; on meta (or fake) tensors the cast costs nothing, and
    the output gets the caller's dtype back. Entered outside the FLOP counter, which so sees the
    op as the model called it. Every other op runs through `ValueShadows`, so small index tensors
    whose values are certain can be read back off meta.
    """

    def __init__(self) -> None:
        super().__init__()
        self._grouped_mm = getattr(getattr(torch.ops.aten, "_grouped_mm", None), "default", None)
        aligned = getattr(torch.ops.aten, "_nested_tensor_from_mask_left_aligned", None)
        self._left_aligned = getattr(aligned, "default", None)
        self._shadows = ValueShadows()  # (the real values of small index tensors: see value_shadows.py)
        self._weight_norm_backward = torch.ops.aten._weight_norm_interface_backward.default

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        if func is self._left_aligned and func is not None and any(on_meta(a) for a in args):
            # TransformerEncoder asks whether a padding mask is left-aligned (for its nested-tensor
            # fast path); a meta mask has no values: say no, and it takes its ordinary path.
            return False
        if func is self._grouped_mm and func is not None and _has_meta_fp32(args):
            out = func(*tree_map(_to_bf16, args), **tree_map(_to_bf16, kwargs))
            return out.to(torch.float32)
        if func is self._weight_norm_backward and on_meta(args[1]):
            # torch 2.8 has no meta kernel for it (the old nn.utils.weight_norm's backward): the
            # gradients of v and g have their shapes.
            return torch.empty_like(args[1]), torch.empty_like(args[2])
        # torch 2.8's C++ meta kernel of view asks for every size as a number ("SymIntArrayRef expected
        # to contain only concrete integers"): a data-decided count (torchvision's ``flatten(start_dim=1)``
        # of its RoIs) fails there. Its Python meta keeps the symbol.
        symbolic_view = func in _VIEWS and _has_symbolic_size(args)
        with _python_dispatcher() if symbolic_view else contextlib.nullcontext():
            out = self._shadows.run(func, args, kwargs)
        if _is_nms(func) and args and isinstance(out, torch.Tensor):
            # Non-maximum suppression keeps some of its boxes: at most all of them. torchvision's fake
            # kernel leaves the count unbounded, so say so (a dry run decides guards at upper bounds).
            kept, boxes = out.shape[0], args[0].shape[0]
            if isinstance(kept, torch.SymInt):
                torch._check(kept <= boxes)
                if isinstance(boxes, torch.SymInt):  # (a sum of counts: its number, for the range)
                    upper = boxes.node.shape_env.bound_sympy(boxes.node.expr).upper
                    if upper.is_number and upper.is_finite:
                        torch._check(kept <= int(upper))
        return out


_VIEWS = frozenset({torch.ops.aten.view.default, torch.ops.aten._unsafe_view.default})


def _has_symbolic_size(args: tuple) -> bool:
    """True when a tensor among `args` has a symbolic size, or a size among them is one (``view(u0, -1)``)."""
    for leaf in tree_leaves(args):
        if isinstance(leaf, torch.SymInt):
            return True
        if isinstance(leaf, torch.Tensor) and any(isinstance(n, torch.SymInt) for n in leaf.shape):
            return True
    return False


def _python_dispatcher() -> Any:
    from torch._dispatch.python import enable_python_dispatcher

    return enable_python_dispatcher()


def _is_nms(func: Any) -> bool:
    name = getattr(func, "name", None)
    return callable(name) and name() in ("torchvision::nms", "torchvision::qnms")


def _has_meta_fp32(args: tuple) -> bool:
    return any(
        isinstance(a, torch.Tensor) and a.dtype == torch.float32 and a.device.type == "meta" for a in args
    )


def _to_bf16(value: Any) -> Any:
    if isinstance(value, torch.Tensor) and value.dtype == torch.float32:
        return value.to(torch.bfloat16)
    return value


def is_meta_pass(x: Any) -> bool:
    """True when the pass's inputs are all on meta (a dry run; lengths `to_meta` kept real aside), so
    meta-kernel gaps apply."""
    from summarytool.inputs import iter_tensors

    tensors = iter_tensors(x)
    return any(t.device.type == "meta" for t in tensors) and all(
        t.device.type == "meta" or _is_length(t) for t in tensors
    )
