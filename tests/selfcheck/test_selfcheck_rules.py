"""The compatibility rules on plain data: each branch, including the ones a real GPU would take."""

from __future__ import annotations

import pytest

from summarytool.selfcheck import rules
from summarytool.selfcheck.nvml import STATUS_NO_DRIVER, STATUS_NO_LIBRARY, STATUS_NO_PYNVML, STATUS_OK
from summarytool.selfcheck.verdicts import Finding, Verdict

# torch 2.8.0 cu128's list, as printed by torch.cuda.get_arch_list() on Linux x86_64.
CU128_ARCHS = ["sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120", "compute_120"]


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("sm_86", rules.Arch("sm", 8, 6, "")),
        ("sm_120", rules.Arch("sm", 12, 0, "")),
        ("compute_90", rules.Arch("compute", 9, 0, "")),
        ("sm_90a", rules.Arch("sm", 9, 0, "a")),
        ("sm_100f", rules.Arch("sm", 10, 0, "f")),
        ("gfx90a", None),
        ("sm_8", None),
    ],
)
def test_parse_arch(entry: str, expected: rules.Arch | None) -> None:
    assert rules.parse_arch(entry) == expected


@pytest.mark.parametrize(("text", "expected"), [("12.8", (12, 8)), ("13.0", (13, 0)), ("11", (11, 0))])
def test_parse_cuda_version(text: str, expected: tuple[int, int]) -> None:
    assert rules.parse_cuda_version(text) == expected


def test_driver_older_in_major_fails_and_names_the_driver_to_install() -> None:
    finding = rules.driver_cuda(12080, "13.0")
    assert finding is not None and finding.verdict is Verdict.FAIL
    assert "CUDA 12.8" in finding.message and "CUDA 13.0" in finding.message
    assert "580" in finding.fix


def test_driver_older_in_minor_only_warns() -> None:
    finding = rules.driver_cuda(12040, "12.8")
    assert finding is not None and finding.verdict is Verdict.WARN
    assert "minor-version compatibility" in finding.reason
    assert "12.8" in finding.fix


@pytest.mark.parametrize(("driver", "torch_cuda"), [(12080, "12.8"), (13000, "12.8"), (12090, "12.6")])
def test_driver_same_or_newer_is_ok(driver: int, torch_cuda: str) -> None:
    finding = rules.driver_cuda(driver, torch_cuda)
    assert finding is not None and finding.verdict is Verdict.OK


@pytest.mark.parametrize(("driver", "torch_cuda"), [(None, "12.8"), (12080, None)])
def test_driver_rule_is_silent_when_a_side_is_missing(driver: int | None, torch_cuda: str | None) -> None:
    assert rules.driver_cuda(driver, torch_cuda) is None


def test_exact_arch_is_ok() -> None:
    assert rules.gpu_arch("H100", (9, 0), CU128_ARCHS).verdict is Verdict.OK


def test_newer_minor_of_a_listed_major_runs_its_sass() -> None:
    # An RTX 4090 / L4 is sm_89, which the cu128 wheel does not list: sm_86 kernels run on it.
    finding = rules.gpu_arch("L4", (8, 9), CU128_ARCHS)
    assert finding.verdict is Verdict.OK
    assert "sm_86" in finding.message


def test_arch_specific_sass_does_not_cover_other_minors() -> None:
    # sm_90a code runs on 9.0 only, so it cannot serve a (hypothetical) 9.1 GPU.
    assert rules.gpu_arch("x", (9, 1), ["sm_80", "sm_90a"]).verdict is Verdict.FAIL


def test_ptx_only_warns() -> None:
    finding = rules.gpu_arch("B200", (10, 0), ["sm_80", "sm_90", "compute_90"])
    assert finding.verdict is Verdict.WARN
    assert "compute_90" in finding.message and "sm_100" in finding.fix


def test_arch_missing_fails_with_the_error_users_see() -> None:
    # An RTX 5090 (sm_120) under a cu126-era torch: no sm_120 SASS and no PTX at all in its list.
    finding = rules.gpu_arch(
        "RTX 5090", (12, 0), ["sm_50", "sm_60", "sm_70", "sm_75", "sm_80", "sm_86", "sm_90"]
    )
    assert finding.verdict is Verdict.FAIL
    assert "no kernel image" in finding.reason
    assert "sm_120" in finding.fix


def test_ptx_newer_than_the_gpu_does_not_help() -> None:
    assert rules.gpu_arch("V100", (7, 0), ["sm_80", "compute_80"]).verdict is Verdict.FAIL


def test_gpu_older_than_every_arch_gets_the_older_torch_advice() -> None:
    finding = rules.gpu_arch("GTX 970", (5, 2), ["sm_75", "sm_80"], "torch 2.8.0")
    assert finding.verdict is Verdict.FAIL
    assert "older than every architecture" in finding.fix


def _visibility(**overrides: object) -> Finding:
    args: dict[str, object] = {
        "nvml_status": STATUS_OK,
        "nvml_error": "",
        "nvml_error_code": None,
        "nvml_gpu_count": 1,
        "driver_version": "580.105.08",
        "torch_version": "2.8.0",
        "torch_cuda_version": "12.8",
        "torch_device_count": 1,
        "cuda_visible_devices": None,
        "cuda_warnings": [],
        "allow_cpu": False,
    }
    args.update(overrides)
    return rules.visibility(**args)  # type: ignore[arg-type]


def test_visible_gpus_are_ok() -> None:
    assert _visibility().verdict is Verdict.OK


def test_nvml_gpus_but_cpu_only_torch_fails() -> None:
    finding = _visibility(torch_cuda_version=None, torch_device_count=0, torch_version="2.13.0+cpu")
    assert finding.verdict is Verdict.FAIL
    assert "CPU-only build" in finding.reason and "CUDA build of torch" in finding.fix


def test_nvml_gpus_hidden_by_cuda_visible_devices_fails_and_says_so() -> None:
    finding = _visibility(torch_device_count=0, cuda_visible_devices="")
    assert finding.verdict is Verdict.FAIL
    assert "CUDA_VISIBLE_DEVICES" in finding.reason


def test_nvml_gpus_but_cuda_does_not_start_quotes_torchs_warning() -> None:
    warning = "CUDA initialization: The NVIDIA driver on your system is too old (found version 12040)."
    finding = _visibility(torch_device_count=0, cuda_warnings=[warning])
    assert finding.verdict is Verdict.FAIL
    assert "too old (found version 12040)" in finding.reason


def test_allow_cpu_does_not_excuse_gpus_torch_cannot_use() -> None:
    finding = _visibility(torch_cuda_version=None, torch_device_count=0, allow_cpu=True)
    assert finding.verdict is Verdict.FAIL


@pytest.mark.parametrize(
    ("status", "code", "in_reason"),
    [
        (STATUS_NO_LIBRARY, 12, "--gpus all"),
        (STATUS_NO_DRIVER, 9, "kernel driver is not loaded"),
        (STATUS_OK, None, "no GPU was passed into the container"),
        (STATUS_NO_PYNVML, None, "nvidia-ml-py is not installed"),
        ("error", 18, "kernel module"),
    ],
)
def test_no_gpu_at_all_fails_with_the_cause(status: str, code: int | None, in_reason: str) -> None:
    finding = _visibility(
        nvml_status=status, nvml_error_code=code, nvml_gpu_count=0, torch_device_count=0, nvml_error="x"
    )
    assert finding.verdict is Verdict.FAIL
    assert finding.message == "no GPU is visible"
    assert in_reason in finding.reason
    assert "--allow-cpu" in finding.fix or "reboot" in finding.fix


def test_no_gpu_with_allow_cpu_is_ok() -> None:
    finding = _visibility(
        nvml_status=STATUS_NO_LIBRARY, nvml_gpu_count=0, torch_device_count=0, allow_cpu=True
    )
    assert finding.verdict is Verdict.OK
    assert "--allow-cpu" in finding.message


def test_fewer_torch_gpus_than_nvml_is_ok_when_cuda_visible_devices_explains_it() -> None:
    assert (
        _visibility(nvml_gpu_count=8, torch_device_count=2, cuda_visible_devices="0,1").verdict is Verdict.OK
    )
    assert _visibility(nvml_gpu_count=8, torch_device_count=2).verdict is Verdict.WARN


def test_torch_gpus_without_nvml_warns() -> None:
    finding = _visibility(nvml_status=STATUS_NO_PYNVML, nvml_gpu_count=0, nvml_error="no module")
    assert finding.verdict is Verdict.WARN
    assert "nvidia-ml-py" in finding.fix


def test_non_ok_finding_without_fix_is_rejected() -> None:
    with pytest.raises(ValueError, match="lacks a reason or a fix"):
        Finding(check="x", verdict=Verdict.WARN, message="m", reason="r")
