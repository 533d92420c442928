"""Training precision of the training-step estimate: fp32, pure bf16/fp16, or bf16/fp16 autocast.

Pure low precision keeps weights, gradients and optimizer state in that dtype (the copy is cast).
Mixed precision keeps fp32 weights ("master weights") and runs the forward pass under
``torch.autocast``, which casts the inputs of matrix products to the low dtype and caches the cast
weights for the backward pass. Autocast does not act on meta tensors, so a mixed estimate runs on
fake CPU tensors (no memory either) under CPU autocast.

Whose op lists autocast follows depends on where training runs. CUDA's differ from the CPU's
(softmax, layer_norm, pow, rsqrt, sum, ... run in fp32 on CUDA; 3-d pooling and padding in fp32
only on the CPU). A CPU build of torch cannot run a training step on fake CUDA tensors (autograd
asks the CUDA device guard for a stream, and the process aborts), so for a GPU the CPU's autocast
dispatch key is given CUDA's rules instead: while an estimate for a GPU runs, every op CUDA's
autocast lists gets CUDA's cast policy on the CPU key, and every op only the CPU's lists runs
uncast, as on CUDA. The rules are registered with ``torch.library`` for the estimate's duration
and act only in the thread that is estimating (anywhere else the CPU's own policy is applied), and
being dispatcher kernels they also act in a checkpointed block's recomputation.
"""

from __future__ import annotations

import contextlib
import threading
import warnings
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from summarytool.inputs import map_tensors

PRECISIONS = ("fp32", "bf16", "fp16", "bf16-mixed", "fp16-mixed")
AUTOCAST_RULES = ("cpu", "cuda")
_LOW = {"bf16": torch.bfloat16, "fp16": torch.float16}


def parse_precision(value: Any) -> str:
    if not isinstance(value, str) or value.lower() not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {value!r}.")
    return value.lower()


def low_dtype(precision: str) -> torch.dtype | None:
    """The low-precision dtype of `precision` (None for fp32)."""
    return _LOW.get(precision.removesuffix("-mixed"))


def is_mixed(precision: str) -> bool:
    return precision.endswith("-mixed")


def autocast_rules(precision: str, train_on: torch.device | str) -> str | None:
    """Whose autocast op lists a mixed estimate follows: the CPU's when training runs on the CPU,
    else CUDA's (a GPU, or meta: an accelerator). None when nothing is autocast."""
    if not is_mixed(precision):
        return None
    return "cpu" if torch.device(train_on).type == "cpu" else "cuda"


def cast_floating(model: nn.Module, dtype: torch.dtype) -> None:
    """Pure low precision: the (copied) model's floating parameters and buffers in `dtype`."""
    model.to(dtype)


def cast_inputs(x: Any, dtype: torch.dtype) -> Any:
    """Floating inputs in `dtype` (token ids and masks keep theirs)."""
    return map_tensors(x, lambda t: t.to(dtype) if t.is_floating_point() else t)


def autocast(precision: str, rules: str | None = None) -> Any:
    """The forward pass's autocast context for a mixed precision (a no-op otherwise).

    It is CPU autocast (the fake tensors are CPU tensors). With ``rules="cuda"`` its op lists are
    CUDA's from its first entry until the `fake_world` around it closes: the backward pass, which
    recomputes checkpointed blocks under autocast again, needs the same rules as the forward.
    """
    if not is_mixed(precision):
        return contextlib.nullcontext()
    return _Autocast(low_dtype(precision), rules)


@contextlib.contextmanager
def fake_world(precision: str) -> Iterator[None]:
    """Where a mixed estimate runs: fake tensors, created on the CPU device (nothing allocated).

    The autocast rules an estimate's `autocast` took up in it are put down when it closes.
    """
    if not is_mixed(precision):
        yield
        return
    from summarytool.capture.dry_run import symbolic_fake_mode

    outer = getattr(_ACTIVE, "world", None)
    _ACTIVE.world = contextlib.ExitStack()
    try:
        # (a shape environment: data-dependent sizes are symbols; autocast sees the ops a real step runs)
        with _ACTIVE.world, symbolic_fake_mode(composites=False):
            yield
    finally:
        _ACTIVE.world = outer


class _Autocast:
    """torch.autocast("cpu"), under CUDA's op lists with ``rules="cuda"``; on leaving it, the casts
    those rules cached in the pass are dropped (torch drops its own cache there too)."""

    def __init__(self, dtype: torch.dtype | None, rules: str | None) -> None:
        self._inner = torch.autocast("cpu", dtype=dtype)
        self.rules = rules

    def __enter__(self) -> None:
        if self.rules == "cuda" and getattr(_ACTIVE, "rules", None) is None:
            world = getattr(_ACTIVE, "world", None)
            if world is None:  # (outside a fake world: for this context only)
                self._own = contextlib.ExitStack()
                world = self._own
            world.enter_context(rules_for("cuda"))
        self._inner.__enter__()

    def __exit__(self, *exc: Any) -> None:
        self._inner.__exit__(*exc)
        rules = getattr(_ACTIVE, "rules", None)
        if rules is not None:
            rules.cache.clear()
        own = self.__dict__.pop("_own", None)
        if own is not None:
            own.close()


# ----- CUDA's autocast rules, on the CPU's autocast key --------------------------------------------
LOWER, FP32, SET_OPT_DTYPE, APPEND_DTYPE, PROMOTE, UNCAST = (
    "lower_precision_fp",
    "fp32",
    "fp32_set_opt_dtype",
    "fp32_append_dtype",
    "promote",
    "uncast",
)


def _ops(policy: str, names: str) -> dict[str, str]:
    return {f"aten::{name}": policy for name in names.split()}


# CUDA's cast policy per op, as aten/src/ATen/autocast_mode.h lists it (AT_FORALL_LOWER_PRECISION_FP,
# AT_FORALL_FP32, AT_FORALL_FP32_SET_OPT_DTYPE, AT_FORALL_DIFFERENT_REDISPATCH_SIGNATURE,
# AT_FORALL_PROMOTE). Only the ops the installed torch registers for AutocastCUDA are used;
# tests/capture/test_precision.py checks that every op it registers is here.
CUDA_POLICIES: dict[str, str] = {
    **_ops(
        LOWER,
        "_convolution _convolution.deprecated conv1d conv2d conv3d conv_tbc conv_transpose1d "
        "conv_transpose2d.input conv_transpose3d.input convolution prelu addmm addmv addr matmul einsum "
        "mm mv linalg_vecdot linear addbmm baddbmm bmm chain_matmul linalg_multi_dot "
        "_thnn_fused_lstm_cell _thnn_fused_gru_cell lstm_cell gru_cell rnn_tanh_cell rnn_relu_cell "
        "_scaled_dot_product_flash_attention scaled_dot_product_attention",
    ),
    **_ops(
        FP32,
        "acos asin cosh erfinv exp expm1 log log10 log2 log1p reciprocal rsqrt sinh tan "
        "pow.Tensor_Scalar pow.Tensor_Tensor pow.Scalar softplus layer_norm native_layer_norm rms_norm "
        "group_norm frobenius_norm.dim nuclear_norm nuclear_norm.dim cosine_similarity poisson_nll_loss "
        "cosine_embedding_loss nll_loss nll_loss2d hinge_embedding_loss kl_div l1_loss smooth_l1_loss "
        "huber_loss mse_loss margin_ranking_loss multilabel_margin_loss soft_margin_loss "
        "triplet_margin_loss multi_margin_loss binary_cross_entropy_with_logits dist pdist cdist renorm "
        "logsumexp upsample_nearest1d _upsample_nearest_exact1d upsample_nearest2d "
        "_upsample_nearest_exact2d upsample_nearest3d _upsample_nearest_exact3d upsample_linear1d "
        "upsample_bilinear2d _upsample_bilinear2d_aa upsample_trilinear3d upsample_bicubic2d "
        "_upsample_bicubic2d_aa",
    ),
    **_ops(
        SET_OPT_DTYPE,
        "prod prod.dim_int prod.dim_Dimname softmax.int softmax.Dimname log_softmax.int "
        "log_softmax.Dimname cumprod cumprod.dimname cumsum cumsum.dimname linalg_vector_norm "
        "linalg_matrix_norm linalg_matrix_norm.str_ord sum sum.dim_IntList sum.dim_DimnameList",
    ),
    **_ops(APPEND_DTYPE, "norm.Scalar norm.ScalarOpt_dim norm.names_ScalarOpt_dim"),
    **_ops(
        PROMOTE, "addcdiv addcmul atan2 bilinear cross dot vdot grid_sampler index_put tensordot scatter_add"
    ),
}
# Registered for AutocastCUDA but left as the CPU runs them: cuDNN's kernels (never called on the
# CPU), and binary_cross_entropy, which CUDA's autocast refuses (an error, not a size).
# (A CUDA build of torch, the image's, also lists _cudnn_rnn: the CPU's RNN layer stands in for it.)
CUDA_NOT_EMULATED = frozenset(
    {"aten::cudnn_convolution", "aten::cudnn_convolution_transpose", "aten::_cudnn_rnn"}
)
# The CPU's own policy for the ops the emulation takes over (for other threads, see _Kernel): fp32
# unless listed here (aten/src/ATen/autocast_mode.cpp, TORCH_LIBRARY_IMPL(aten, AutocastCPU, m)).
_CPU_POLICIES = {
    **_ops(
        LOWER, "conv1d.padding conv2d.padding conv3d.padding _addmm_activation _native_multi_head_attention"
    ),
    **_ops(PROMOTE, "stack cat index_copy index_copy.dimname"),
}
# The CPU's kernels kept under CUDA's rules: the CPU's RNN layer stands in for cuDNN's, whose
# autocast wrapper (registered only in CUDA builds of torch) casts it down too; CUDA's autocast
# refuses binary_cross_entropy, the CPU's runs it in fp32 (the estimate keeps running).
_KEEP_CPU = frozenset({"aten::mkldnn_rnn_layer", "aten::binary_cross_entropy"})

# .rules: the _CudaRules of the estimate this thread runs, if any; .world: the fake_world's exit stack
_ACTIVE = threading.local()
_LOCK = threading.Lock()
_INSTALLED: list[Any] = []  # [library, users] while any thread estimates under CUDA's rules


def _registrations(key: str) -> set[str]:
    try:
        return set(torch._C._dispatch_get_registrations_for_dispatch_key(key))
    except (AttributeError, RuntimeError):  # pragma: no cover - present on every supported torch
        return set()


def emulated_policies() -> dict[str, str]:
    """The ops CUDA's rules take over on the CPU's autocast key, and the policy each gets there.

    CUDA's policy for an op CUDA lists (except where the CPU's is the same: matrix products and
    convolutions cast down, losses in fp32, on both), no cast for an op only the CPU lists.
    """
    on_cuda, on_cpu = _registrations("AutocastCUDA"), _registrations("AutocastCPU")
    chosen = {}
    for name in sorted(on_cuda | on_cpu):
        if name in _KEEP_CPU or name in CUDA_NOT_EMULATED:
            continue
        if name in on_cuda:
            policy = CUDA_POLICIES.get(name)
            if policy is None or (name in on_cpu and policy in (LOWER, FP32)):
                continue  # (unknown: tested against; both: the same policy, the CPU's C++ kernel)
            chosen[name] = policy
        else:
            chosen[name] = UNCAST
    return chosen


def _op(name: str) -> Any:
    base, _, overload = name.removeprefix("aten::").partition(".")
    packet = getattr(torch.ops.aten, base)
    return getattr(packet, overload or "default")


def _eligible(t: Any) -> bool:
    return isinstance(t, torch.Tensor) and t.is_floating_point() and t.dtype != torch.float64


class _CudaRules:
    """CUDA's autocast rules for one estimate: the weight casts its pass cached."""

    def __init__(self, keep: bool = True) -> None:
        self.cache: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        self.keep = keep

    def cast(self, value: Any, dtype: torch.dtype, lower: torch.dtype | None) -> Any:
        """`value` cast as autocast's cached_cast does: a fp32 leaf weight's down-cast is cached."""
        if isinstance(value, (list, tuple)):
            return type(value)(self.cast(v, dtype, lower) for v in value)
        if not _eligible(value) or value.dtype == dtype:
            return value
        cacheable = (
            dtype == lower
            and value.dtype == torch.float32
            and value.requires_grad
            and value.is_leaf
            and not value._is_view()
            and torch.is_autocast_cache_enabled()
            and self.keep
        )
        if not cacheable:
            return value.to(dtype)
        hit = self.cache.get(id(value))
        if hit is None or hit[0] is not value:
            hit = self.cache[id(value)] = (value, value.to(dtype))
        return hit[1]


_NO_CACHE = _CudaRules(keep=False)  # (the CPU's policy in another thread: casts, none cached)


class _Kernel:
    """One op's kernel on the CPU's autocast key: CUDA's policy in a thread estimating for a GPU,
    the CPU's own everywhere else (the CPU's kernel is shadowed while the rules are installed)."""

    def __init__(self, name: str, policy: str, cpu_policy: str) -> None:
        self.op = _op(name)
        self.policy, self.cpu_policy = policy, cpu_policy
        arguments = self.op._schema.arguments
        self.dtype_at = next(
            (i for i, a in enumerate(arguments) if a.name == "dtype" and not a.kwarg_only), None
        )
        self.positional = [a for a in arguments if not a.kwarg_only]
        if policy == APPEND_DTYPE:
            self.typed = _op(
                name.replace("Scalar", "ScalarOpt_dtype", 1) if name.endswith(".Scalar") else name + "_dtype"
            )

    def __call__(self, keyset: Any, *args: Any, **kwargs: Any) -> Any:
        rules = getattr(_ACTIVE, "rules", None)
        policy = self.policy if rules is not None else self.cpu_policy
        lower = torch.get_autocast_dtype("cpu")
        with torch._C._ExcludeDispatchKeyGuard(torch._C.DispatchKeySet(torch._C.DispatchKey.AutocastCPU)):
            return self._run(policy, rules or _NO_CACHE, lower, list(args), kwargs)

    def _run(self, policy: str, rules: _CudaRules, lower: torch.dtype, args: list, kwargs: dict) -> Any:
        if policy in (LOWER, FP32, PROMOTE):
            to = lower if policy == LOWER else torch.float32
            if policy == PROMOTE:
                found = [t.dtype for t in _tensors(args, kwargs) if _eligible(t)]
                to = torch.float32 if torch.float32 in found else lower
            args = [rules.cast(a, to, lower) for a in args]
            kwargs = {k: rules.cast(v, to, lower) for k, v in kwargs.items()}
        elif policy == SET_OPT_DTYPE and args and _eligible(args[0]):
            if self.dtype_at is not None and len(args) > self.dtype_at:
                args[self.dtype_at] = args[self.dtype_at] or torch.float32
            else:
                kwargs = {**kwargs, "dtype": kwargs.get("dtype") or torch.float32}
        elif policy == APPEND_DTYPE:
            full = args + [a.default_value for a in self.positional[len(args) :]]
            dtype = torch.float32 if _eligible(full[0]) else full[0].dtype
            return self.typed(*full, **kwargs, dtype=dtype)
        return self.op(*args, **kwargs)


def _tensors(args: list, kwargs: dict) -> Iterator[torch.Tensor]:
    for value in (*args, *kwargs.values()):
        for v in value if isinstance(value, (list, tuple)) else (value,):
            if isinstance(v, torch.Tensor):
                yield v


def _install() -> Any:
    """CUDA's rules on the CPU's autocast key (a library whose destruction restores the CPU's)."""
    library = torch.library.Library("aten", "IMPL")
    on_cpu = _registrations("AutocastCPU")
    with warnings.catch_warnings():  # ("Overriding a previously registered kernel": that is the point)
        warnings.simplefilter("ignore", UserWarning)
        for name, policy in emulated_policies().items():
            cpu_policy = _CPU_POLICIES.get(name, FP32) if name in on_cpu else UNCAST
            try:
                kernel = _Kernel(name, policy, cpu_policy)
                library.impl(name.removeprefix("aten::"), kernel, "AutocastCPU", with_keyset=True)
            except (AttributeError, RuntimeError):  # an op or overload this torch does not have
                continue
    return library


@contextlib.contextmanager
def rules_for(rules: str | None) -> Iterator[None]:
    """Around a mixed estimate (forward, backward with its recomputations, optimizer step): with
    ``"cuda"``, CPU autocast follows CUDA's op lists in this thread. ``"cpu"`` and None change nothing."""
    if rules != "cuda":
        yield
        return
    with _LOCK:
        if not _INSTALLED:
            _INSTALLED[:] = [_install(), 0]
        _INSTALLED[1] += 1
    outer = getattr(_ACTIVE, "rules", None)
    _ACTIVE.rules = _CudaRules()
    try:
        yield
    finally:
        _ACTIVE.rules = outer
        with _LOCK:
            _INSTALLED[1] -= 1
            if _INSTALLED[1] == 0:
                _INSTALLED[0]._destroy()
                _INSTALLED.clear()
