"""Runs the five parts of the self-check in order and assembles the report.

Each part is guarded: the self-check runs at every container start, so a part that crashes becomes a FAIL
finding with the error in it rather than a traceback that hides the other parts.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from importlib import metadata

from summarytool.selfcheck import nvml as nvml_mod
from summarytool.selfcheck import reference, rules, smoke, torchbuild, userpackages
from summarytool.selfcheck.report import Report, Section
from summarytool.selfcheck.verdicts import Finding, Verdict

GIB = 1024**3


def _crashed(check: str, exc: BaseException) -> Finding:
    return Finding(
        check=check,
        verdict=Verdict.FAIL,
        message=f"this check crashed: {type(exc).__name__}: {exc}",
        reason="an unexpected error inside the check (its result is unknown)",
        fix="run `summarytool selfcheck` again; if it repeats, report it as a summarytool bug with this output",
    )


def _guarded(section: Section, check: str, body: Callable[[], None]) -> Section:
    try:
        body()
    except Exception as exc:  # any failure becomes a finding: the other parts must still run
        section.findings.append(_crashed(check, exc))
    return section


def nvml_section(info: nvml_mod.NvmlInfo, smi: str | None) -> Section:
    section = Section("nvml", "Driver and GPUs (NVML)", data={**info.to_dict(), "nvidia_smi": smi})
    if info.available:
        section.lines.append(
            f"driver {info.driver_version}; newest CUDA it supports: {info.cuda_driver_version_str}"
        )
        for g in info.gpus:
            temp = "temperature n/a" if g.temperature_c is None else f"{g.temperature_c} C"
            util = "n/a" if g.utilization_gpu_pct is None else f"{g.utilization_gpu_pct}%"
            mem_util = "n/a" if g.utilization_memory_pct is None else f"{g.utilization_memory_pct}%"
            section.lines.append(
                f"GPU {g.index}: {g.name}, memory {g.memory_used_bytes / GIB:.1f} / "
                f"{g.memory_total_bytes / GIB:.1f} GiB used, compute capability "
                f"{g.compute_capability[0]}.{g.compute_capability[1]} ({g.sm}), {temp}, "
                f"utilisation {util} (memory {mem_util})"
            )
        section.findings.append(
            Finding(
                check="nvml",
                verdict=Verdict.OK,
                message=f"NVML answers: driver {info.driver_version}, {len(info.gpus)} GPU(s)",
            )
        )
        section.findings.extend(sharing_lines_and_findings(info, section.lines))
    else:
        section.lines.append(f"NVML unavailable ({info.status}): {info.error}")
        section.lines.append("nothing to check here; the verdict is under Compatibility")
    if smi is None:
        section.lines.append("nvidia-smi: not installed")
    else:
        section.lines.append("nvidia-smi (shown as is, never parsed):")
        section.lines.extend("  " + line for line in smi.splitlines())
    return section


def _process_text(p: nvml_mod.GpuProcess) -> str:
    memory = "memory n/a" if p.used_memory_bytes is None else f"{p.used_memory_bytes / GIB:.1f} GiB"
    return f"pid {p.pid} {p.name or '(name n/a)'} ({memory})"


def sharing_lines_and_findings(info: nvml_mod.NvmlInfo, lines: list[str]) -> list[Finding]:
    """Which GPUs this container sees, and who else computes on them (a shared server: another container,
    another user). Adds report lines; returns a gpu-sharing finding when NVML could list the processes."""
    seen = ", ".join(f"{g.index} ({g.uuid or 'uuid n/a'})" for g in info.gpus) or "none"
    asked = ", ".join(f"{k}={v}" for k, v in info.visible_devices.items()) or "no *_VISIBLE_DEVICES set"
    lines.append(f"this container sees GPU(s): {seen}; {asked}")
    listed = [g for g in info.gpus if g.other_processes is not None]
    busy = [g for g in listed if g.other_processes]
    for g in info.gpus:
        if g.other_processes is None:
            lines.append(f"GPU {g.index}: other processes not readable through NVML")
        elif g.other_processes:
            lines.append(
                f"GPU {g.index}: also used by {len(g.other_processes)} other process(es): "
                + "; ".join(_process_text(p) for p in g.other_processes)
            )
        else:
            lines.append(f"GPU {g.index}: no other process is using it")
    if not listed:
        return []
    if not busy:
        return [Finding("gpu-sharing", Verdict.OK, f"no other process on GPU(s) {_indices(listed)}")]
    held = sum(p.used_memory_bytes or 0 for g in busy for p in g.other_processes or [])
    count = sum(len(g.other_processes or []) for g in busy)
    return [
        Finding(
            "gpu-sharing",
            Verdict.WARN,
            f"GPU(s) {_indices(busy)} also used by {count} other process(es), holding {held / GIB:.1f} GiB",
            reason="another container or user computes on the same GPU: memory and time are shared, "
            "so out-of-memory errors and slow steps can come from them, not from your code",
            fix="ask for other GPUs (make run NAME=... GPUS=2,3; `make ps` shows who has which), "
            "or agree with whoever holds them",
        )
    ]


def _indices(gpus: list[nvml_mod.GpuInfo]) -> str:
    return ",".join(str(g.index) for g in gpus)


def torch_section(build: torchbuild.TorchBuild) -> Section:
    section = Section("torch", "torch build", data=build.to_dict())
    cuda = build.cuda_version or "none (CPU-only build)"
    section.lines.append(
        f"torch {build.torch_version}; CUDA {cuda}; cuDNN {build.cudnn_version_str or 'none'}; "
        f"NCCL {build.nccl_version or 'none'}"
    )
    section.lines.append("arch list: " + (" ".join(build.arch_list) or "(empty)"))
    section.lines.append(
        f"torch.cuda.is_available(): {build.cuda_available}; device count {build.device_count}"
        + (
            ""
            if build.cuda_visible_devices is None
            else f"; CUDA_VISIBLE_DEVICES={build.cuda_visible_devices}"
        )
    )
    for d in build.devices:
        section.lines.append(
            f"cuda:{d.index}: {d.name}, {d.memory_total_bytes / GIB:.1f} GiB, "
            f"compute capability {d.compute_capability[0]}.{d.compute_capability[1]}"
        )
    for warning in build.cuda_warnings:
        section.lines.append(f"torch warned: {warning.strip()}")
    kind = f"built for CUDA {build.cuda_version}" if build.is_cuda_build else "a CPU-only build"
    section.findings.append(
        Finding(check="torch-build", verdict=Verdict.OK, message=f"torch {build.torch_version} is {kind}")
    )
    return section


def smoke_section(build: torchbuild.TorchBuild) -> Section:
    devices = [f"cuda:{i}" for i in range(build.device_count)] or ["cpu"]
    section = Section("smoke", "Smoke test", data={"devices": devices, "results": []})
    if devices == ["cpu"]:
        section.lines.append("torch sees no GPU, so the tests ran on the CPU")

    def body() -> None:
        results = smoke.run(devices)
        section.data["results"] = [r.to_dict() for r in results]
        section.findings.extend(smoke.findings(results))

    return _guarded(section, "smoke", body)


def reference_section(name: str, build: torchbuild.TorchBuild) -> Section:
    ref = reference.get(name)
    device = "cuda:0" if build.device_count > 0 else "cpu"
    section = Section("reference", f"Reference model: {ref.name}", data={"name": ref.name, "device": device})
    section.lines.append(f"{ref.description}, input {tuple(ref.input_size)}, on {device}")

    def body() -> None:
        result = reference.summarise(name, device)
        section.data = result.to_dict()
        if result.note:
            section.lines.append(result.note)
        section.lines.extend(result.table.splitlines())
        section.findings.extend(reference.findings(result))

    return _guarded(section, "reference-summary", body)


def process_seconds() -> float | None:
    """Seconds since this process started (so torch's import counts too); None where /proc is missing."""
    try:
        with open("/proc/self/stat", encoding="ascii") as f:
            start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime", encoding="ascii") as f:
            uptime = float(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return max(0.0, uptime - start_ticks / os.sysconf("SC_CLK_TCK"))


def _version() -> str:
    try:
        return metadata.version("summarytool")
    except metadata.PackageNotFoundError:
        return "unknown"


def _user_packages(section: Section) -> None:
    layers = userpackages.query()
    section.lines.extend(userpackages.section_lines(layers))
    section.findings.extend(userpackages.findings(layers))
    section.data["user_site"] = layers.user_site_dict()
    section.data["shadowed"] = [s.to_dict() for s in layers.shadowed]


def run_selfcheck(
    *, allow_cpu: bool = False, strict: bool = False, reference_name: str = "simplecnn"
) -> Report:
    """The whole check. `reference_name` must be valid (see `reference.get`); the caller turns a bad one into
    a usage error before any work is done."""
    reference.get(reference_name)
    start = time.perf_counter()
    info = nvml_mod.query()
    smi = nvml_mod.nvidia_smi_text()
    build = torchbuild.query()
    compat = Section("compatibility", "Compatibility")
    _guarded(compat, "compatibility", lambda: compat.findings.extend(rules.evaluate(info, build, allow_cpu)))
    _guarded(compat, userpackages.CHECK, lambda: _user_packages(compat))
    sections = [
        nvml_section(info, smi),
        torch_section(build),
        compat,
        smoke_section(build),
        reference_section(reference_name, build),
    ]
    return Report(
        sections=sections,
        strict=strict,
        allow_cpu=allow_cpu,
        reference=reference_name,
        seconds=time.perf_counter() - start,
        process_seconds=process_seconds(),
        summarytool_version=_version(),
    )
