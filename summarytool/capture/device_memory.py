"""How much memory a device has free for new tensors (for refusing before allocating, not after)."""

from __future__ import annotations

from typing import Any


def available_bytes(device: Any) -> int | None:
    """Memory free for new tensors on `device` (cpu: the machine's and its cgroup's; cuda: the GPU's), or None."""
    import torch

    if device.type == "cuda":
        try:
            return int(torch.cuda.mem_get_info(device)[0])
        except Exception:  # no driver answer: let the allocator decide
            return None
    if device.type != "cpu":
        return None
    free: list[int] = []
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    free.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    for limit_file, usage_file in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"),
    ):
        try:
            with open(limit_file, encoding="ascii") as f:
                limit = f.read().strip()
            with open(usage_file, encoding="ascii") as f:
                usage = int(f.read().strip())
        except (OSError, ValueError):
            continue
        if limit.isdigit() and int(limit) < 2**60:  # "max" or v1's huge number: no limit
            free.append(max(int(limit) - usage, 0))
        break
    return min(free) if free else None
