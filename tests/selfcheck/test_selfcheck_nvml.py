"""NVML faked at the `pynvml` boundary (and torch.cuda where a GPU must be seen): the query, every verdict rule
on what the real query code reads, and the exit codes of whole runs that a CPU-only torch can really do."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from fake_nvml import GIB, FakeGpu, FakeNvml

from summarytool.cli import main
from summarytool.selfcheck import nvml, rules, torchbuild
from summarytool.selfcheck.verdicts import Verdict


def fake_torch_gpus(
    monkeypatch: pytest.MonkeyPatch,
    *,
    cuda: str = "12.8",
    arch: tuple[str, ...] = ("sm_80", "sm_86", "sm_90", "sm_100", "sm_120", "compute_120"),
    devices: tuple[tuple[str, tuple[int, int]], ...] = (("NVIDIA H100 80GB HBM3", (9, 0)),),
) -> None:
    """Make the CPU-only torch here report a CUDA build that sees `devices`."""
    monkeypatch.setattr(torch.version, "cuda", cuda)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: bool(devices))
    monkeypatch.setattr(torch.cuda, "device_count", lambda: len(devices))
    monkeypatch.setattr(torch.cuda, "get_arch_list", lambda: list(arch))
    monkeypatch.setattr(
        torch.cuda,
        "get_device_properties",
        lambda i: SimpleNamespace(
            name=devices[i][0], major=devices[i][1][0], minor=devices[i][1][1], total_memory=80 * GIB
        ),
    )
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)


def _verdicts(allow_cpu: bool = False) -> dict[str, list[Verdict]]:
    found: dict[str, list[Verdict]] = {}
    for f in rules.evaluate(nvml.query(), torchbuild.query(), allow_cpu):
        found.setdefault(f.check, []).append(f.verdict)
    return found


# --- the query itself ---------------------------------------------------------------------------------------


def test_query_reads_driver_and_every_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeNvml(
        monkeypatch,
        gpus=(FakeGpu(), FakeGpu(name="NVIDIA L4", capability=(8, 9), total=24 * GIB, temperature=None)),
    )
    info = nvml.query()
    assert info.available and info.driver_version == "580.105.08"
    assert info.cuda_driver_version == 13000 and info.cuda_driver_version_str == "13.0"
    assert [g.name for g in info.gpus] == ["NVIDIA H100 80GB HBM3", "NVIDIA L4"]
    assert [g.sm for g in info.gpus] == ["sm_90", "sm_89"]
    assert info.gpus[0].memory_total_bytes == 80 * GIB and info.gpus[0].memory_used_bytes == 2 * GIB
    assert info.gpus[0].temperature_c == 34 and info.gpus[0].utilization_gpu_pct == 7
    assert info.gpus[1].temperature_c is None  # NOT_SUPPORTED is a missing reading, not an error
    assert fake.initialised == 1 and fake.shut_down == 1
    assert json.loads(json.dumps(info.to_dict()))["gpus"][1]["sm"] == "sm_89"


@pytest.mark.parametrize(
    ("code", "status"),
    [(12, nvml.STATUS_NO_LIBRARY), (9, nvml.STATUS_NO_DRIVER), (18, nvml.STATUS_ERROR)],
)
def test_init_errors_are_statuses_not_crashes(
    monkeypatch: pytest.MonkeyPatch, code: int, status: str
) -> None:
    FakeNvml(monkeypatch, init_error=code)
    info = nvml.query()
    assert info.status == status and info.error_code == code and not info.gpus
    assert info.error  # NVML's own message, for the report


def test_real_nvml_on_this_host_is_a_clean_no_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    """No fake: this machine has no NVIDIA driver, and the query must say so instead of raising."""
    info = nvml.query()
    if info.available:
        pytest.skip("this host has an NVIDIA driver")
    assert info.status in (nvml.STATUS_NO_LIBRARY, nvml.STATUS_NO_DRIVER)


# --- each verdict rule on what the real query code reads ---------------------------------------------------


def test_all_good(monkeypatch: pytest.MonkeyPatch) -> None:
    FakeNvml(monkeypatch, cuda=13000)
    fake_torch_gpus(monkeypatch, cuda="12.8")
    assert _verdicts() == {
        "gpu-visibility": [Verdict.OK],
        "driver-cuda": [Verdict.OK],
        "gpu-arch": [Verdict.OK],
    }


def test_driver_too_old_in_major(monkeypatch: pytest.MonkeyPatch) -> None:
    FakeNvml(monkeypatch, driver="550.54.15", cuda=12040)
    fake_torch_gpus(monkeypatch, cuda="13.0")
    assert _verdicts()["driver-cuda"] == [Verdict.FAIL]


def test_driver_too_old_in_minor_only(monkeypatch: pytest.MonkeyPatch) -> None:
    FakeNvml(monkeypatch, driver="550.54.15", cuda=12040)
    fake_torch_gpus(monkeypatch, cuda="12.8")
    found = _verdicts()
    assert found["driver-cuda"] == [Verdict.WARN]
    assert found["gpu-visibility"] == [Verdict.OK] and found["gpu-arch"] == [Verdict.OK]


def test_arch_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    FakeNvml(monkeypatch, gpus=(FakeGpu(name="NVIDIA GeForce RTX 5090", capability=(12, 0)),))
    fake_torch_gpus(
        monkeypatch,
        cuda="12.6",
        arch=("sm_50", "sm_60", "sm_70", "sm_75", "sm_80", "sm_86", "sm_90"),
        devices=(("NVIDIA GeForce RTX 5090", (12, 0)),),
    )
    assert _verdicts()["gpu-arch"] == [Verdict.FAIL]


def test_each_gpu_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    FakeNvml(monkeypatch, gpus=(FakeGpu(), FakeGpu(name="Tesla V100", capability=(7, 0))))
    fake_torch_gpus(monkeypatch, devices=(("H100", (9, 0)), ("V100", (7, 0))))
    assert _verdicts()["gpu-arch"] == [Verdict.OK, Verdict.FAIL]


def test_nvml_sees_gpus_but_torch_does_not(monkeypatch: pytest.MonkeyPatch) -> None:
    FakeNvml(monkeypatch, driver="550.54.15", cuda=12040)

    def unavailable() -> bool:
        warnings.warn(
            "CUDA initialization: The NVIDIA driver on your system is too old", UserWarning, stacklevel=1
        )
        return False

    fake_torch_gpus(monkeypatch, cuda="13.0", devices=())
    monkeypatch.setattr(torch.cuda, "is_available", unavailable)
    findings = {f.check: f for f in rules.evaluate(nvml.query(), torchbuild.query(), allow_cpu=True)}
    assert findings["gpu-visibility"].verdict is Verdict.FAIL
    assert "too old" in findings["gpu-visibility"].reason
    assert findings["driver-cuda"].verdict is Verdict.FAIL


# --- whole runs through the command line ------------------------------------------------------------------


def _run_json(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict]:
    code = main(["selfcheck", "--json", "--reference", "gap-cnn", *argv])
    return code, json.loads(capsys.readouterr().out)


def test_cli_nvml_gpus_with_cpu_only_torch_exits_1_even_with_allow_cpu(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    FakeNvml(monkeypatch)
    monkeypatch.setattr(torch.version, "cuda", None)  # what the CPU wheel says; set in case torch has CUDA
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    code, doc = _run_json(["--allow-cpu"], capsys)
    assert code == 1 and doc["verdict"] == "FAIL"
    nvml_section, _, compat = doc["sections"][:3]
    assert (
        nvml_section["verdict"] == "OK" and nvml_section["data"]["gpus"][0]["name"] == "NVIDIA H100 80GB HBM3"
    )
    visibility = [f for f in compat["findings"] if f["check"] == "gpu-visibility"][0]
    assert visibility["verdict"] == "FAIL" and "CPU-only build" in visibility["reason"]


def test_cli_strict_turns_a_minor_driver_warn_into_exit_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A driver for CUDA 12.4 and a torch for 12.8, on a host whose GPUs are not passed in (CPU run allowed).
    FakeNvml(monkeypatch, driver="550.54.15", cuda=12040, gpus=())
    monkeypatch.setattr(torch.version, "cuda", "12.8")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    code, doc = _run_json(["--allow-cpu"], capsys)
    assert code == 0 and doc["verdict"] == "WARN" and doc["counts"]["WARN"] == 1
    code, doc = _run_json(["--allow-cpu", "--strict"], capsys)
    assert code == 1 and doc["verdict"] == "FAIL"
    driver = [f for s in doc["sections"] for f in s["findings"] if f["check"] == "driver-cuda"][0]
    assert driver["verdict"] == "FAIL" and driver["strict_escalated"] is True


def test_nvidia_smi_text_is_shown_as_is(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    line = "| NVIDIA-SMI 580.105.08   Driver Version: 580.105.08   CUDA Version: 13.0 |"
    script = tmp_path / "nvidia-smi"
    script.write_text(f"#!/bin/sh\necho '{line}'\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ.get('PATH', '')}")
    assert nvml.nvidia_smi_text() == line
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert nvml.nvidia_smi_text() is None
