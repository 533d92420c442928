"""The torch build: its versions, the architectures it has kernels for, and the GPUs it can see.

Everything is read through torch's public API. `torch.cuda.is_available()` only warns (it does not raise) when
the driver is too old or CUDA cannot start; those warnings are kept because they name the real cause.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class TorchDevice:
    """A GPU as torch sees it (indices follow CUDA_VISIBLE_DEVICES, not NVML)."""

    index: int
    name: str
    compute_capability: tuple[int, int]
    memory_total_bytes: int


@dataclass
class TorchBuild:
    """The figures of the installed torch that decide whether it can use the GPUs here."""

    torch_version: str
    cuda_version: str | None  # torch.version.cuda; None for a CPU-only build
    cudnn_version: int | None  # torch.backends.cudnn.version(), e.g. 91002
    nccl_version: str | None
    arch_list: list[str]
    cuda_available: bool
    device_count: int
    devices: list[TorchDevice] = field(default_factory=list)
    cuda_warnings: list[str] = field(default_factory=list)
    cuda_visible_devices: str | None = None

    @property
    def is_cuda_build(self) -> bool:
        return self.cuda_version is not None

    @property
    def cudnn_version_str(self) -> str | None:
        return format_cudnn_version(self.cudnn_version)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["cudnn_version_str"] = self.cudnn_version_str
        for device in data["devices"]:
            device["compute_capability"] = list(device["compute_capability"])
        return data


def format_cudnn_version(version: int | None) -> str | None:
    """cuDNN's integer version as a dotted one: 91002 -> "9.10.2" (cuDNN 9+), 8902 -> "8.9.2" (cuDNN 8)."""
    if version is None:
        return None
    if version >= 10000:
        return f"{version // 10000}.{(version % 10000) // 100}.{version % 100}"
    return f"{version // 1000}.{(version % 1000) // 100}.{version % 100}"


def _nccl_version() -> str | None:
    import torch

    try:
        version = torch.cuda.nccl.version()
    except (AttributeError, RuntimeError):  # CPU-only builds have no NCCL bindings at all
        return None
    return ".".join(str(part) for part in version)


def _cudnn_version() -> int | None:
    import torch

    try:
        return torch.backends.cudnn.version()
    except RuntimeError:  # a build with cuDNN whose library cannot be loaded
        return None


def query() -> TorchBuild:
    """Read the torch build and what it sees; never raises for a missing or broken CUDA."""
    import torch

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        available = bool(torch.cuda.is_available())
        count = int(torch.cuda.device_count()) if available else 0
    devices: list[TorchDevice] = []
    for index in range(count):
        props = torch.cuda.get_device_properties(index)
        devices.append(
            TorchDevice(
                index=index,
                name=props.name,
                compute_capability=(int(props.major), int(props.minor)),
                memory_total_bytes=int(props.total_memory),
            )
        )
    return TorchBuild(
        torch_version=torch.__version__,
        cuda_version=torch.version.cuda,
        cudnn_version=_cudnn_version(),
        nccl_version=_nccl_version(),
        arch_list=list(torch.cuda.get_arch_list()),
        cuda_available=available,
        device_count=count,
        devices=devices,
        cuda_warnings=[str(w.message) for w in caught if "cuda" in str(w.message).lower()],
        cuda_visible_devices=os.environ.get("CUDA_VISIBLE_DEVICES"),
    )
