"""The self-check on a shared server: which GPUs this container sees and who else computes on them.

NVML is faked at the `pynvml` boundary (FakeNvml from fake_nvml.py), with the process list added.
"""

from __future__ import annotations

import json
import os
from types import SimpleNamespace

import pynvml
import pytest
import torch
from fake_nvml import GIB, FakeGpu, FakeNvml

from summarytool.cli import main
from summarytool.selfcheck import nvml
from summarytool.selfcheck.check import nvml_section

NOT_AVAILABLE = 2**64 - 1  # NVML_VALUE_NOT_AVAILABLE as nvidia-ml-py hands it over


class SharedNvml(FakeNvml):
    """FakeNvml plus UUIDs, compute processes per GPU and process names."""

    def __init__(self, monkeypatch, *, processes, names=None, uuids=True, **kw) -> None:
        super().__init__(monkeypatch, **kw)
        self.processes = processes  # GPU index -> [(pid, used bytes)], or an NVML error code
        self.names = names or {}
        self.uuids = uuids
        for name in ("nvmlDeviceGetComputeRunningProcesses", "nvmlSystemGetProcessName", "nvmlDeviceGetUUID"):
            monkeypatch.setattr(pynvml, name, getattr(self, name))

    def nvmlDeviceGetUUID(self, handle: FakeGpu) -> str:
        if not self.uuids:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return f"GPU-{self.gpus.index(handle):08d}-aaaa"

    def nvmlDeviceGetComputeRunningProcesses(self, handle: FakeGpu) -> list[SimpleNamespace]:
        listed = self.processes.get(self.gpus.index(handle), [])
        if isinstance(listed, int):
            raise pynvml.NVMLError(listed)
        return [SimpleNamespace(pid=pid, usedGpuMemory=used) for pid, used in listed]

    def nvmlSystemGetProcessName(self, pid: int) -> bytes:
        if pid not in self.names:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_FOUND)
        return self.names[pid].encode()


TWO = (FakeGpu(), FakeGpu(name="NVIDIA L4", capability=(8, 9)))


def test_query_lists_other_processes_without_this_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NVIDIA_VISIBLE_DEVICES", "2,3")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    SharedNvml(
        monkeypatch,
        gpus=TWO,
        processes={0: [(os.getpid(), GIB), (4242, 10 * GIB), (777, NOT_AVAILABLE)], 1: []},
        names={4242: "python"},
    )
    info = nvml.query()
    first, second = info.gpus
    assert first.uuid == "GPU-00000000-aaaa" and second.uuid == "GPU-00000001-aaaa"
    assert [(p.pid, p.used_memory_bytes, p.name) for p in first.other_processes] == [
        (4242, 10 * GIB, "python"),
        (777, None, None),
    ]
    assert second.other_processes == []
    assert info.visible_devices == {"NVIDIA_VISIBLE_DEVICES": "2,3"}
    assert json.loads(json.dumps(info.to_dict()))["gpus"][0]["other_processes"][0]["pid"] == 4242


def test_section_warns_when_someone_else_is_on_my_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NVIDIA_VISIBLE_DEVICES", "0,1")
    SharedNvml(monkeypatch, gpus=TWO, processes={1: [(4242, 3 * GIB)]}, names={4242: "train.py"})
    section = nvml_section(nvml.query(), None)
    (sharing,) = [f for f in section.findings if f.check == "gpu-sharing"]
    assert sharing.verdict.value == "WARN"
    assert sharing.message == "GPU(s) 1 also used by 1 other process(es), holding 3.0 GiB"
    assert "GPUS=" in sharing.fix and "make ps" in sharing.fix
    text = "\n".join(section.lines)
    assert "this container sees GPU(s): 0 (GPU-00000000-aaaa), 1 (GPU-00000001-aaaa)" in text
    assert "NVIDIA_VISIBLE_DEVICES=0,1" in text
    assert "GPU 0: no other process is using it" in text
    assert "GPU 1: also used by 1 other process(es): pid 4242 train.py (3.0 GiB)" in text


def test_section_ok_when_the_gpus_are_mine_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    SharedNvml(monkeypatch, gpus=TWO, processes={0: [(os.getpid(), GIB)]}, uuids=False)
    section = nvml_section(nvml.query(), None)
    (sharing,) = [f for f in section.findings if f.check == "gpu-sharing"]
    assert sharing.verdict.value == "OK" and sharing.message == "no other process on GPU(s) 0,1"
    assert "0 (uuid n/a), 1 (uuid n/a)" in "\n".join(section.lines)


def test_unreadable_process_list_is_said_and_not_judged(monkeypatch: pytest.MonkeyPatch) -> None:
    SharedNvml(monkeypatch, gpus=TWO, processes={0: pynvml.NVML_ERROR_NO_PERMISSION, 1: []})
    section = nvml_section(nvml.query(), None)
    (sharing,) = [f for f in section.findings if f.check == "gpu-sharing"]
    assert sharing.message == "no other process on GPU(s) 1"  # only the GPU that could be listed
    assert "GPU 0: other processes not readable through NVML" in section.lines
    SharedNvml(monkeypatch, gpus=TWO, processes={0: pynvml.NVML_ERROR_NO_PERMISSION, 1: 999})
    section = nvml_section(nvml.query(), None)
    assert not [f for f in section.findings if f.check == "gpu-sharing"]


def test_cli_report_shows_the_other_process(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    SharedNvml(monkeypatch, gpus=(FakeGpu(),), processes={0: [(31337, 5 * GIB)]}, names={31337: "python"})
    monkeypatch.setattr(torch.version, "cuda", None)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    main(["selfcheck", "--reference", "gap-cnn", "--allow-cpu"])
    out = capsys.readouterr().out
    assert "pid 31337 python (5.0 GiB)" in out and "also used by 1 other process(es), holding 5.0 GiB" in out
