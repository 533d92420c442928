"""The compatibility rules, as pure functions of plain data, so each can be reasoned about and tested alone.

The facts they encode: the driver reports the newest CUDA it supports; a torch built for a newer CUDA *major*
cannot start CUDA at all, one built for a newer *minor* mostly works (minor-version compatibility); a GPU runs
SASS built for its own architecture or an older minor of the same major, or else PTX of an older-or-equal
architecture through the driver's JIT; a GPU that none of these covers fails at the first kernel.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from summarytool.selfcheck.nvml import (
    NVML_ERROR_LIB_RM_VERSION_MISMATCH,
    STATUS_NO_DRIVER,
    STATUS_NO_LIBRARY,
    STATUS_NO_PYNVML,
    STATUS_OK,
    NvmlInfo,
    format_cuda_version,
)
from summarytool.selfcheck.torchbuild import TorchBuild
from summarytool.selfcheck.verdicts import Finding, Verdict

# The oldest Linux driver branch for each CUDA major (minor-version compatibility within the major).
MIN_DRIVER_FOR_CUDA_MAJOR = {11: "450", 12: "525", 13: "580"}

# CUDA_VISIBLE_DEVICES values that hide every GPU from CUDA.
_HIDING_VALUES = {"", "-1", "none", "void", "nodevfiles"}

NO_GPU_FIX = (
    "start the container with `docker run --gpus all ...` (compose: `deploy.resources.reservations.devices` "
    "with `capabilities: [gpu]`; Kubernetes: `resources.limits: nvidia.com/gpu`), with the NVIDIA Container "
    "Toolkit installed on the host (`nvidia-ctk runtime configure --runtime=docker`, then restart Docker); "
    "or pass --allow-cpu to accept a CPU-only run"
)

_ARCH = re.compile(r"^(sm|compute)_(\d+)([a-z]?)$")


def parse_cuda_version(version: str) -> tuple[int, int]:
    """ "12.8" -> (12, 8); torch.version.cuda and nvidia-smi both write it like that."""
    major, _, rest = version.partition(".")
    minor = rest.split(".")[0] if rest else "0"
    return int(major), int(minor or 0)


@dataclass(frozen=True)
class Arch:
    """One entry of torch's arch list: `sm_86` (SASS for 8.6), `compute_90` (PTX), `sm_90a` (that exact GPU only)."""

    kind: str  # "sm" or "compute"
    major: int
    minor: int
    suffix: str  # "" ; "a" (architecture-specific, this exact GPU only) ; "f" (family)

    @property
    def capability(self) -> tuple[int, int]:
        return (self.major, self.minor)


def parse_arch(entry: str) -> Arch | None:
    """Parse "sm_120" / "compute_90" / "sm_90a"; the last digit is the minor, the rest the major."""
    match = _ARCH.match(entry.strip())
    if match is None:
        return None
    kind, digits, suffix = match.groups()
    if len(digits) < 2:
        return None
    return Arch(kind=kind, major=int(digits[:-1]), minor=int(digits[-1]), suffix=suffix)


def driver_cuda(driver_cuda_version: int | None, torch_cuda_version: str | None) -> Finding | None:
    """Driver vs the CUDA torch was built with; None when one side is missing (another rule says why)."""
    if driver_cuda_version is None or torch_cuda_version is None:
        return None
    d_major, d_minor = driver_cuda_version // 1000, (driver_cuda_version % 1000) // 10
    t_major, t_minor = parse_cuda_version(torch_cuda_version)
    driver = format_cuda_version(driver_cuda_version)
    if d_major < t_major:
        needed = MIN_DRIVER_FOR_CUDA_MAJOR.get(t_major, "a newer version")
        return Finding(
            check="driver-cuda",
            verdict=Verdict.FAIL,
            message=f"the driver supports CUDA {driver}, torch was built with CUDA {torch_cuda_version}",
            reason=(
                f"a CUDA {t_major}.x build needs a driver that supports CUDA {t_major} (driver {needed} or "
                f"newer); with this driver torch cannot start CUDA at all"
            ),
            fix=(
                f"upgrade the host's NVIDIA driver to {needed} or newer; or install a torch build for CUDA "
                f"{d_major}.{d_minor} or older (the cuXY indexes at https://download.pytorch.org/whl/). "
                f"Data-center GPUs can also bridge one major with the cuda-compat package"
            ),
        )
    if d_major == t_major and d_minor < t_minor:
        return Finding(
            check="driver-cuda",
            verdict=Verdict.WARN,
            message=f"the driver supports CUDA {driver}, torch was built with CUDA {torch_cuda_version}",
            reason=(
                f"minor-version compatibility runs most CUDA {t_major}.x code on this driver, but PTX "
                f"JIT-compilation and features newer than CUDA {driver} fail"
            ),
            fix=f"upgrade the host's NVIDIA driver to one whose `nvidia-smi` shows CUDA Version {t_major}."
            f"{t_minor} or newer",
        )
    return Finding(
        check="driver-cuda",
        verdict=Verdict.OK,
        message=f"the driver supports CUDA {driver}, torch needs CUDA {torch_cuda_version}",
    )


def gpu_arch(
    gpu: str, capability: tuple[int, int], arch_list: list[str], torch_version: str = "torch"
) -> Finding:
    """Whether torch has kernels (SASS, or PTX the driver can JIT) for one GPU of compute capability X.Y."""
    major, minor = capability
    sm = f"sm_{major}{minor}"
    archs = [a for a in (parse_arch(e) for e in arch_list) if a is not None]
    label = f"{gpu} ({sm})"
    if any(a.kind == "sm" and a.capability == capability for a in archs):
        return Finding(check="gpu-arch", verdict=Verdict.OK, message=f"{label}: {sm} is in the arch list")
    # SASS of an older minor of the same major runs (binary compatibility); "a" builds run on their own GPU only.
    same_major = [
        a for a in archs if a.kind == "sm" and a.suffix != "a" and a.major == major and a.minor <= minor
    ]
    if same_major:
        best = max(same_major, key=lambda a: a.minor)
        return Finding(
            check="gpu-arch",
            verdict=Verdict.OK,
            message=f"{label}: runs the sm_{best.major}{best.minor} kernels (binary compatible within {major}.x)",
        )
    ptx = [a for a in archs if a.kind == "compute" and a.suffix == "" and a.capability <= capability]
    if ptx:
        best = max(ptx, key=lambda a: a.capability)
        return Finding(
            check="gpu-arch",
            verdict=Verdict.WARN,
            message=f"{label}: no {sm} kernels; runs compute_{best.major}{best.minor} PTX through the driver's JIT",
            reason=(
                "the driver JIT-compiles every kernel at first use (minutes of start-up, repeated when the JIT "
                "cache is cold) and the PTX misses optimisations for this architecture"
            ),
            fix=f"install a torch build whose `torch.cuda.get_arch_list()` includes {sm}",
        )
    listed = ", ".join(arch_list) if arch_list else "nothing"
    older = all(a.capability > capability for a in archs) and bool(archs)
    fix = (
        f"this GPU is older than every architecture of {torch_version}: use an older torch build that still "
        f"ships {sm}, or a newer GPU"
        if older
        else f"install a torch build whose `torch.cuda.get_arch_list()` includes {sm} (a newer torch, usually "
        f"built for a newer CUDA)"
    )
    return Finding(
        check="gpu-arch",
        verdict=Verdict.FAIL,
        message=f"{label}: no kernels for {sm} in {torch_version} (it has {listed})",
        reason=(
            "torch has neither SASS for this architecture (or an older minor of it) nor PTX it could JIT: the first "
            "kernel fails with 'no kernel image is available for execution on the device'"
        ),
        fix=fix,
    )


def visibility(
    *,
    nvml_status: str,
    nvml_error: str,
    nvml_error_code: int | None,
    nvml_gpu_count: int,
    driver_version: str | None,
    torch_version: str,
    torch_cuda_version: str | None,
    torch_device_count: int,
    cuda_visible_devices: str | None,
    cuda_warnings: list[str],
    allow_cpu: bool,
) -> Finding:
    """Whether the GPUs that exist are the GPUs torch can use, and what to do when there are none."""
    if nvml_gpu_count > 0 and torch_device_count == 0:
        message = f"NVML sees {nvml_gpu_count} GPU(s), torch sees none"
        hidden = cuda_visible_devices is not None and cuda_visible_devices.strip().lower() in _HIDING_VALUES
        if torch_cuda_version is None:
            reason = f"torch {torch_version} is a CPU-only build"
            fix = "install a CUDA build of torch (the default `pip install torch` on Linux x86_64 is one)"
        elif hidden:
            reason = f"CUDA_VISIBLE_DEVICES={cuda_visible_devices!r} hides every GPU from CUDA"
            fix = (
                "unset CUDA_VISIBLE_DEVICES or set it to the GPU indices to use, e.g. CUDA_VISIBLE_DEVICES=0"
            )
        else:
            detail = "; ".join(w.strip() for w in cuda_warnings) or "no error was reported"
            reason = f"torch (CUDA {torch_cuda_version}) could not start CUDA: {detail}"
            fix = (
                "follow the driver-cuda finding if there is one; otherwise run "
                "`python -c 'import torch; torch.cuda.init()'` to see CUDA's own error"
            )
        return Finding(check="gpu-visibility", verdict=Verdict.FAIL, message=message, reason=reason, fix=fix)

    if torch_device_count > 0:
        if nvml_status != STATUS_OK:
            return Finding(
                check="gpu-visibility",
                verdict=Verdict.WARN,
                message=f"torch sees {torch_device_count} GPU(s) but NVML is unavailable ({nvml_error})",
                reason="without NVML the driver's CUDA version, memory use and temperatures cannot be checked",
                fix="install nvidia-ml-py (`pip install nvidia-ml-py`) and make sure libnvidia-ml.so is mounted",
            )
        if torch_device_count < nvml_gpu_count:
            message = f"torch sees {torch_device_count} of the {nvml_gpu_count} GPU(s) NVML sees"
            if cuda_visible_devices is not None:
                return Finding(
                    check="gpu-visibility",
                    verdict=Verdict.OK,
                    message=f"{message} (CUDA_VISIBLE_DEVICES={cuda_visible_devices})",
                )
            return Finding(
                check="gpu-visibility",
                verdict=Verdict.WARN,
                message=message,
                reason="some GPUs cannot be used by CUDA (MIG mode, a GPU in a bad state, or one taken over)",
                fix="run `nvidia-smi` to see the state of each GPU",
            )
        return Finding(
            check="gpu-visibility",
            verdict=Verdict.OK,
            message=f"torch sees {torch_device_count} GPU(s)"
            + ("" if nvml_status != STATUS_OK else ", as NVML"),
        )

    # Neither NVML nor torch sees a GPU.
    if allow_cpu:
        return Finding(
            check="gpu-visibility",
            verdict=Verdict.OK,
            message="no GPU visible; a CPU-only run is accepted (--allow-cpu)",
        )
    if nvml_status == STATUS_NO_LIBRARY:
        reason = (
            "the NVIDIA driver library (libnvidia-ml.so) is not in the container: it was started without "
            "`--gpus all`, or the host has no NVIDIA Container Toolkit (or no NVIDIA driver)"
        )
        fix = NO_GPU_FIX
    elif nvml_status == STATUS_NO_DRIVER:
        reason = "the NVIDIA driver library is there but the kernel driver is not loaded on the host"
        fix = (
            "install or load the NVIDIA driver on the host (`nvidia-smi` on the host must work); "
            + NO_GPU_FIX
        )
    elif nvml_status == STATUS_OK:
        reason = (
            f"the NVIDIA driver ({driver_version}) is present but no GPU was passed into the container "
            "(NVIDIA_VISIBLE_DEVICES is empty or 'void', or `--gpus` named no device)"
        )
        fix = NO_GPU_FIX
    elif nvml_status == STATUS_NO_PYNVML:
        reason = (
            "torch sees no GPU, and NVML cannot be asked why because nvidia-ml-py is not installed; usually the "
            "container was started without `--gpus all` or without the NVIDIA Container Toolkit"
        )
        fix = "install nvidia-ml-py for a precise diagnosis; " + NO_GPU_FIX
    elif nvml_error_code == NVML_ERROR_LIB_RM_VERSION_MISMATCH:
        reason = (
            f"NVML failed: {nvml_error} (the driver was upgraded but the old kernel module is still loaded)"
        )
        fix = "reboot the host (or reload the nvidia kernel modules) so the driver and its library match"
    else:
        reason = f"NVML failed: {nvml_error}"
        fix = "run `nvidia-smi` on the host and in the container to see the driver's state; " + NO_GPU_FIX
    return Finding(
        check="gpu-visibility", verdict=Verdict.FAIL, message="no GPU is visible", reason=reason, fix=fix
    )


def evaluate(nvml: NvmlInfo, build: TorchBuild, allow_cpu: bool) -> list[Finding]:
    """All compatibility findings for what NVML and torch reported, in the order the report shows them."""
    findings = [
        visibility(
            nvml_status=nvml.status,
            nvml_error=nvml.error,
            nvml_error_code=nvml.error_code,
            nvml_gpu_count=len(nvml.gpus),
            driver_version=nvml.driver_version,
            torch_version=build.torch_version,
            torch_cuda_version=build.cuda_version,
            torch_device_count=build.device_count,
            cuda_visible_devices=build.cuda_visible_devices,
            cuda_warnings=build.cuda_warnings,
            allow_cpu=allow_cpu,
        )
    ]
    driver = driver_cuda(nvml.cuda_driver_version, build.cuda_version)
    if driver is not None:
        findings.append(driver)
    if not build.is_cuda_build:
        return findings
    gpus = (
        [(f"GPU {g.index} {g.name}", g.compute_capability) for g in nvml.gpus]
        if nvml.gpus
        else [(f"GPU {d.index} {d.name}", d.compute_capability) for d in build.devices]
    )
    if gpus and not build.arch_list:
        if build.device_count > 0:
            findings.append(
                Finding(
                    check="gpu-arch",
                    verdict=Verdict.WARN,
                    message="torch reports no compiled architectures, so GPU support cannot be checked",
                    reason="torch.cuda.get_arch_list() is empty although torch sees GPUs",
                    fix="reinstall torch from an official wheel",
                )
            )
        return findings
    findings.extend(gpu_arch(name, cc, build.arch_list, f"torch {build.torch_version}") for name, cc in gpus)
    return findings
