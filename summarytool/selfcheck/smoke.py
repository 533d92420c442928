"""A smoke test per device: does arithmetic on it give the right numbers?

A driver can load and torch can see the GPU while kernels still fail ("no kernel image") or give garbage (a bad
cuBLAS/cuDNN install, a broken GPU). So each device runs an fp32 and a bf16 matmul and a cuDNN convolution,
compared with a float64 result computed on the CPU. The tensors are small: the whole check must stay fast.

Errors are normwise relative errors, ||result - reference|| / ||reference||. The tolerances leave a wide margin
over the rounding error of each precision (fp32 ~2e-7 and bf16 ~2e-3 here) yet catch any real fault, which
gives errors of order 1.
"""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

from summarytool.selfcheck.verdicts import Finding, Verdict

MATMUL_SHAPE = (128, 256, 128)  # (m, k, n)
CONV_INPUT = (2, 8, 16, 16)
CONV_WEIGHT = (16, 8, 3, 3)

TOL_FP32 = 1e-5
TOL_FP32_REDUCED = 5e-3  # fp32 matmul through TF32 / bf16 passes (float32_matmul_precision "high"/"medium")
TOL_BF16 = 1e-2  # against the float64 product of the same bf16-rounded inputs
TOL_CONV_FP32 = 1e-4  # cuDNN may pick Winograd/FFT algorithms, a little less exact than direct convolution


@dataclass
class SmokeResult:
    """One test on one device; `passed` is None when the test was skipped (e.g. no bf16 on that GPU)."""

    device: str
    device_name: str
    test: str
    backend: str
    passed: bool | None
    rel_error: float | None = None
    tolerance: float | None = None
    seconds: float = 0.0
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _rel_error(result: Any, reference: Any) -> float:
    import torch

    diff = torch.linalg.norm(result.detach().cpu().double() - reference)
    return float(diff / torch.linalg.norm(reference))


def _sync(device: Any) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


@contextlib.contextmanager
def _exact_cudnn(device: Any) -> Iterator[None]:
    """cuDNN on and TF32 off for our convolution only, so the fp32 tolerance is fair; restored afterwards."""
    import torch

    if device.type != "cuda":
        yield
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with torch.backends.cudnn.flags(enabled=True, benchmark=False, deterministic=False, allow_tf32=False):
            yield


def _fp32_matmul_tolerance(device: Any) -> float:
    import torch

    try:
        reduced = torch.get_float32_matmul_precision() != "highest"
        if device.type == "cuda":
            reduced = reduced or bool(torch.backends.cuda.matmul.allow_tf32)
    except RuntimeError:  # torch refuses to read TF32 state set through both its old and new APIs
        reduced = True
    return TOL_FP32_REDUCED if reduced else TOL_FP32


def _timed(
    device: Any, name: str, test: str, backend: str, tolerance: float, body: Callable[[], float]
) -> SmokeResult:
    """Run one test; a kernel that raises (no kernel image, out of memory) is a failed test, not a crash."""
    start = time.perf_counter()
    try:
        error = body()
        _sync(device)
    except RuntimeError as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return SmokeResult(
            device=str(device),
            device_name=name,
            test=test,
            backend=backend,
            passed=False,
            tolerance=tolerance,
            seconds=time.perf_counter() - start,
            note=f"{type(exc).__name__}: {first_line}",
        )
    return SmokeResult(
        device=str(device),
        device_name=name,
        test=test,
        backend=backend,
        passed=error <= tolerance,
        rel_error=error,
        tolerance=tolerance,
        seconds=time.perf_counter() - start,
    )


def run_device(device_spec: str) -> list[SmokeResult]:
    """The three tests on one device ("cpu" or "cuda:N")."""
    import torch
    import torch.nn.functional as F

    device = torch.device(device_spec)
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        blas = "cuBLAS"
        cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
        conv_backend = "cuDNN " + _cudnn_str(cudnn) if cudnn else "CUDA (no cuDNN)"
    else:
        name = "CPU"
        blas = conv_backend = "CPU"

    gen = torch.Generator().manual_seed(0)
    m, k, n = MATMUL_SHAPE
    a, b = torch.randn(m, k, generator=gen), torch.randn(k, n, generator=gen)
    x, w = torch.randn(*CONV_INPUT, generator=gen), torch.randn(*CONV_WEIGHT, generator=gen)
    bias = torch.randn(CONV_WEIGHT[0], generator=gen)

    def matmul_fp32() -> float:
        return _rel_error(a.to(device) @ b.to(device), a.double() @ b.double())

    a16, b16 = a.bfloat16(), b.bfloat16()

    def matmul_bf16() -> float:
        return _rel_error(a16.to(device) @ b16.to(device), a16.double() @ b16.double())

    def conv_fp32() -> float:
        reference = F.conv2d(x.double(), w.double(), bias.double(), padding=1)
        with _exact_cudnn(device):
            result = F.conv2d(x.to(device), w.to(device), bias.to(device), padding=1)
            _sync(device)
        return _rel_error(result, reference)

    results = [_timed(device, name, "matmul-fp32", blas, _fp32_matmul_tolerance(device), matmul_fp32)]
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        results.append(
            SmokeResult(str(device), name, "matmul-bf16", blas, None, note="skipped: this GPU has no bf16")
        )
    else:
        results.append(_timed(device, name, "matmul-bf16", blas, TOL_BF16, matmul_bf16))
    results.append(_timed(device, name, "conv2d-fp32", conv_backend, TOL_CONV_FP32, conv_fp32))
    return results


def _cudnn_str(version: int) -> str:
    from summarytool.selfcheck.torchbuild import format_cudnn_version

    return format_cudnn_version(version) or "?"


def run(devices: list[str]) -> list[SmokeResult]:
    """The tests on every device given, in order."""
    results: list[SmokeResult] = []
    for device in devices:
        results.extend(run_device(device))
    return results


def findings(results: list[SmokeResult]) -> list[Finding]:
    """One finding per test; a wrong number or a kernel error is a FAIL."""
    out = []
    for r in results:
        where = f"{r.device} ({r.device_name})" if r.device != "cpu" else "cpu"
        label = f"{r.test} on {where} via {r.backend}"
        if r.passed is None:
            out.append(Finding(check="smoke", verdict=Verdict.OK, message=f"{label}: {r.note}"))
        elif r.passed:
            out.append(
                Finding(
                    check="smoke",
                    verdict=Verdict.OK,
                    message=f"{label}: rel. error {r.rel_error:.1e} <= {r.tolerance:.0e} ({r.seconds * 1e3:.0f} ms)",
                )
            )
        elif r.rel_error is None:
            out.append(
                Finding(
                    check="smoke",
                    verdict=Verdict.FAIL,
                    message=f"{label}: raised {r.note}",
                    reason="the kernel did not run: with 'no kernel image' torch lacks this GPU's architecture; "
                    "with 'out of memory' the GPU is full",
                    fix="see the compatibility findings; `nvidia-smi` shows what holds the GPU's memory",
                )
            )
        else:
            out.append(
                Finding(
                    check="smoke",
                    verdict=Verdict.FAIL,
                    message=f"{label}: rel. error {r.rel_error:.1e} > tolerance {r.tolerance:.0e}",
                    reason="the device computed wrong numbers: a broken CUDA/cuDNN library or a faulty GPU",
                    fix="reinstall torch and its nvidia-* wheels; if it persists, run the GPU's diagnostics "
                    "(`dcgmi diag -r 2`) and check `nvidia-smi -q` for ECC errors",
                )
            )
    return out
