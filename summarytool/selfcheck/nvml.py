"""The driver and the GPUs as NVML sees them (through `nvidia-ml-py`, import name `pynvml`).

NVML is the source of truth for the driver: it answers without a CUDA context and even when torch cannot start
CUDA, which is exactly when the self-check is needed. `pynvml` is imported lazily so that the package works on
hosts without it, and its functions are looked up on the module at call time so tests can replace them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from typing import Any

# NVML return codes that mean "there is no usable NVIDIA driver here" (see nvml.h).
NVML_ERROR_DRIVER_NOT_LOADED = 9
NVML_ERROR_LIBRARY_NOT_FOUND = 12
NVML_ERROR_LIB_RM_VERSION_MISMATCH = 18

STATUS_OK = "ok"
STATUS_NO_PYNVML = "no-pynvml"  # the nvidia-ml-py distribution is not installed
STATUS_NO_LIBRARY = "no-library"  # libnvidia-ml.so is not there: no driver mounted into the container
STATUS_NO_DRIVER = "driver-not-loaded"  # the library is there, the kernel driver is not
STATUS_ERROR = "error"  # NVML is there but failed (version mismatch, permissions, ...)


@dataclass
class GpuProcess:
    """A process with a CUDA context on a GPU, as NVML lists it (host PIDs: another container's too)."""

    pid: int
    used_memory_bytes: int | None = None  # None where NVML cannot tell (some drivers, MIG, Windows)
    name: str | None = None  # None where the process is outside what NVML may name


@dataclass
class GpuInfo:
    """One GPU's figures; optional readings are None where the GPU or driver does not report them."""

    index: int
    name: str
    memory_total_bytes: int
    memory_used_bytes: int
    compute_capability: tuple[int, int]
    temperature_c: int | None = None
    utilization_gpu_pct: int | None = None
    utilization_memory_pct: int | None = None
    uuid: str | None = None
    # Compute processes on this GPU other than this one; None where NVML cannot list them.
    other_processes: list[GpuProcess] | None = None

    @property
    def sm(self) -> str:
        """The architecture name as torch's arch list spells it, e.g. "sm_90"."""
        return f"sm_{self.compute_capability[0]}{self.compute_capability[1]}"


@dataclass
class NvmlInfo:
    """What NVML said: the status, and the driver and GPU figures when the status is "ok"."""

    status: str
    error: str = ""
    error_code: int | None = None
    driver_version: str | None = None
    cuda_driver_version: int | None = None  # 1000*major + 10*minor, e.g. 12080 for CUDA 12.8
    gpus: list[GpuInfo] = field(default_factory=list)
    # What the container runtime was asked to show (NVIDIA_VISIBLE_DEVICES) and what CUDA may use.
    visible_devices: dict[str, str] = field(default_factory=dict)

    @property
    def available(self) -> bool:
        return self.status == STATUS_OK

    @property
    def cuda_driver_version_str(self) -> str | None:
        return format_cuda_version(self.cuda_driver_version)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["cuda_driver_version_str"] = self.cuda_driver_version_str
        for gpu, gpu_data in zip(self.gpus, data["gpus"], strict=True):
            gpu_data["compute_capability"] = list(gpu.compute_capability)
            gpu_data["sm"] = gpu.sm
        return data


def format_cuda_version(version: int | None) -> str | None:
    """NVML's integer CUDA version (12080) as people write it ("12.8")."""
    if version is None:
        return None
    return f"{version // 1000}.{(version % 1000) // 10}"


def _optional(call: Any, *args: Any) -> Any:
    """Call an NVML getter whose reading some GPUs lack (NOT_SUPPORTED on many boards, vGPUs, MIG)."""
    import pynvml

    try:
        return call(*args)
    except pynvml.NVMLError:
        return None


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _other_processes(handle: Any) -> list[GpuProcess] | None:
    """Who else computes on this GPU: `nvmlDeviceGetComputeRunningProcesses`, without this process."""
    import pynvml

    listed = _optional(pynvml.nvmlDeviceGetComputeRunningProcesses, handle)
    if listed is None:
        return None
    out = []
    for p in listed:
        pid = int(p.pid)
        if pid == os.getpid():
            continue
        used = getattr(p, "usedGpuMemory", None)
        # NVML_VALUE_NOT_AVAILABLE is an all-ones unsigned long long
        used = None if used is None or int(used) >= 2**63 else int(used)
        name = _optional(pynvml.nvmlSystemGetProcessName, pid)
        out.append(GpuProcess(pid=pid, used_memory_bytes=used, name=None if name is None else _text(name)))
    return out


def visible_devices(environ: Any = None) -> dict[str, str]:
    environ = os.environ if environ is None else environ
    keys = ("NVIDIA_VISIBLE_DEVICES", "CUDA_VISIBLE_DEVICES")
    return {k: environ[k] for k in keys if k in environ}


def _gpu(index: int) -> GpuInfo:
    import pynvml

    handle = pynvml.nvmlDeviceGetHandleByIndex(index)
    memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
    major, minor = pynvml.nvmlDeviceGetCudaComputeCapability(handle)
    temperature = _optional(pynvml.nvmlDeviceGetTemperature, handle, pynvml.NVML_TEMPERATURE_GPU)
    utilization = _optional(pynvml.nvmlDeviceGetUtilizationRates, handle)
    name = pynvml.nvmlDeviceGetName(handle)
    uuid = _optional(pynvml.nvmlDeviceGetUUID, handle)
    return GpuInfo(
        index=index,
        name=name.decode() if isinstance(name, bytes) else str(name),
        memory_total_bytes=int(memory.total),
        memory_used_bytes=int(memory.used),
        compute_capability=(int(major), int(minor)),
        temperature_c=None if temperature is None else int(temperature),
        utilization_gpu_pct=None if utilization is None else int(utilization.gpu),
        utilization_memory_pct=None if utilization is None else int(utilization.memory),
        uuid=None if uuid is None else _text(uuid),
        other_processes=_other_processes(handle),
    )


def query() -> NvmlInfo:
    """Read the driver and every GPU. Never raises: a missing driver is a status, not a crash."""
    try:
        import pynvml
    except ImportError as exc:
        return NvmlInfo(status=STATUS_NO_PYNVML, error=f"the nvidia-ml-py package is not installed ({exc})")

    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        code = getattr(exc, "value", None)
        status = {
            NVML_ERROR_LIBRARY_NOT_FOUND: STATUS_NO_LIBRARY,
            NVML_ERROR_DRIVER_NOT_LOADED: STATUS_NO_DRIVER,
        }.get(code, STATUS_ERROR)
        return NvmlInfo(status=status, error=str(exc), error_code=code)

    try:
        driver = pynvml.nvmlSystemGetDriverVersion()
        info = NvmlInfo(
            status=STATUS_OK,
            driver_version=driver.decode() if isinstance(driver, bytes) else str(driver),
            cuda_driver_version=int(pynvml.nvmlSystemGetCudaDriverVersion()),
            visible_devices=visible_devices(),
        )
        info.gpus = [_gpu(i) for i in range(int(pynvml.nvmlDeviceGetCount()))]
        return info
    except pynvml.NVMLError as exc:
        return NvmlInfo(status=STATUS_ERROR, error=str(exc), error_code=getattr(exc, "value", None))
    finally:
        try:
            pynvml.nvmlShutdown()
        except pynvml.NVMLError:
            pass


def nvidia_smi_text(timeout_s: float = 5.0) -> str | None:
    """The output of `nvidia-smi`, for people who know that table; shown as is and never parsed."""
    binary = shutil.which("nvidia-smi")
    if binary is None:
        return None
    try:
        done = subprocess.run([binary], capture_output=True, text=True, timeout=timeout_s, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"(nvidia-smi could not run: {exc})"
    return (done.stdout + done.stderr).rstrip()
