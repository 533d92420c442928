"""The smoke test for real on the CPU, and proof that it catches wrong numbers and kernels that raise."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from summarytool.selfcheck import smoke
from summarytool.selfcheck.verdicts import Verdict


def test_cpu_smoke_passes_with_real_rounding_errors() -> None:
    results = smoke.run(["cpu"])
    assert [r.test for r in results] == ["matmul-fp32", "matmul-bf16", "conv2d-fp32"]
    for r in results:
        assert r.passed is True, r
        assert r.rel_error is not None and r.tolerance is not None
        assert 0 < r.rel_error <= r.tolerance  # > 0: the result really was computed in lower precision
    fp32, bf16, _ = results
    assert bf16.rel_error > 100 * fp32.rel_error  # bf16 has 8 mantissa bits against fp32's 24
    assert all(f.verdict is Verdict.OK for f in smoke.findings(results))


def test_wrong_numbers_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    real_conv2d = F.conv2d

    def off_by_one_percent(x: torch.Tensor, *args: object, **kwargs: object) -> torch.Tensor:
        out = real_conv2d(x, *args, **kwargs)
        return out * 1.01 if x.dtype == torch.float32 else out  # the float64 reference stays right

    monkeypatch.setattr(F, "conv2d", off_by_one_percent)
    conv = [r for r in smoke.run(["cpu"]) if r.test == "conv2d-fp32"][0]
    assert conv.passed is False and conv.rel_error == pytest.approx(0.01, rel=1e-3)
    finding = smoke.findings([conv])[0]
    assert finding.verdict is Verdict.FAIL and "wrong numbers" in finding.reason


def test_a_kernel_that_raises_is_a_failed_test(monkeypatch: pytest.MonkeyPatch) -> None:
    real_conv2d = F.conv2d

    def no_kernel_image(x: torch.Tensor, *args: object, **kwargs: object) -> torch.Tensor:
        if x.dtype == torch.float32:
            raise RuntimeError("CUDA error: no kernel image is available for execution on the device")
        return real_conv2d(x, *args, **kwargs)

    monkeypatch.setattr(F, "conv2d", no_kernel_image)
    conv = [r for r in smoke.run(["cpu"]) if r.test == "conv2d-fp32"][0]
    assert conv.passed is False and conv.rel_error is None
    assert "no kernel image" in conv.note
    assert smoke.findings([conv])[0].verdict is Verdict.FAIL


def test_reduced_fp32_matmul_precision_gets_the_tf32_tolerance() -> None:
    before = torch.get_float32_matmul_precision()
    try:
        torch.set_float32_matmul_precision("high")
        fp32 = smoke.run(["cpu"])[0]
    finally:
        torch.set_float32_matmul_precision(before)
    assert fp32.tolerance == smoke.TOL_FP32_REDUCED and fp32.passed
