"""What this environment is: Python, OS, the torch build, the GPUs and every installed distribution."""

from __future__ import annotations

import platform
import sys
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

from summarytool.envreport.names import normalize


@dataclass(frozen=True)
class Distribution:
    name: str  # as the distribution spells it, e.g. "PyYAML"
    version: str

    @property
    def normalized(self) -> str:
        return normalize(self.name)


def installed_distributions() -> list[Distribution]:
    """Every distribution importable here, by name; where two share a name, the one Python imports wins."""
    seen: dict[str, Distribution] = {}
    for dist in metadata.distributions():  # in sys.path order, like imports
        name = dist.metadata["Name"] if dist.metadata else None
        if not name:
            continue  # a broken .dist-info without a name: nothing to compare
        key = normalize(name)
        if key not in seen:
            seen[key] = Distribution(name=name, version=dist.version or "")
    return sorted(seen.values(), key=lambda d: d.normalized)


def os_description() -> dict[str, str]:
    pretty = ""
    try:
        pretty = platform.freedesktop_os_release().get("PRETTY_NAME", "")
    except OSError:
        pass
    return {
        "name": pretty or platform.system(),
        "platform": platform.platform(),
        "kernel": platform.release(),
        "machine": platform.machine(),
    }


def python_description() -> dict[str, Any]:
    return {
        "version": platform.python_version(),
        "implementation": platform.python_implementation(),
        "executable": sys.executable,
        "prefix": sys.prefix,
        "virtualenv": sys.prefix != sys.base_prefix,
    }


@dataclass
class Environment:
    python: dict[str, Any]
    os: dict[str, str]
    torch: dict[str, Any] | None
    nvml: dict[str, Any]
    distributions: list[Distribution] = field(default_factory=list)

    def installed(self) -> dict[str, str]:
        return {d.normalized: d.version for d in self.distributions}


def collect() -> Environment:
    """Read everything; torch and NVML are optional (reported as missing, not raised)."""
    from summarytool.selfcheck import nvml

    try:
        from summarytool.selfcheck import torchbuild

        torch_info: dict[str, Any] | None = torchbuild.query().to_dict()
    except ImportError:
        torch_info = None
    return Environment(
        python=python_description(),
        os=os_description(),
        torch=torch_info,
        nvml=nvml.query().to_dict(),
        distributions=installed_distributions(),
    )
