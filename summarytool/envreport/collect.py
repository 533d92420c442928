"""What this environment is: Python, OS, the torch build, the GPUs and every installed distribution."""

from __future__ import annotations

import os
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


@dataclass(frozen=True)
class Shadow:
    """A user package that Python imports instead of the image's (locked) distribution of the same name."""

    name: str  # as the user's distribution spells it
    user_version: str
    image_version: str
    image_location: str

    def to_dict(self) -> dict[str, str]:
        return {
            "name": self.name,
            "normalized_name": normalize(self.name),
            "user_version": self.user_version,
            "image_version": self.image_version,
            "image_location": self.image_location,
        }


@dataclass
class Layers:
    """The installed distributions in two layers: the image's (the venv and below, what the lock describes) and
    the user's (the user site, ~/.local: what `pip install X` as a user who cannot write the venv adds)."""

    image: list[Distribution] = field(default_factory=list)
    user: list[Distribution] = field(default_factory=list)
    shadowed: list[Shadow] = field(default_factory=list)
    user_site: str | None = None  # the user site directory, whether or not Python uses it
    user_site_enabled: bool = False
    user_site_off_reason: str = ""  # why it is not used, when it is not
    user_site_off_count: int = 0  # distributions in a user site that is switched off (not imported)

    def user_site_dict(self) -> dict[str, Any]:
        return {
            "path": self.user_site,
            "enabled": self.user_site_enabled,
            "off_reason": self.user_site_off_reason or None,
            "off_count": self.user_site_off_count,
        }


def _same_dir(a: str, b: str) -> bool:
    try:
        return os.path.realpath(a or ".") == os.path.realpath(b)
    except (OSError, ValueError):
        return False


def _dist_name(dist: metadata.Distribution) -> str | None:
    try:
        return dist.metadata["Name"] if dist.metadata else None
    except Exception:  # a broken .dist-info: nothing to compare
        return None


def _user_site_state() -> tuple[str | None, bool, str]:
    """(user site directory, whether Python uses it, why not)."""
    import site

    try:
        path = site.getusersitepackages()
    except Exception:  # no home directory, an odd platform
        return None, False, "no user site directory"
    if os.environ.get("PYTHONNOUSERSITE") or sys.flags.no_user_site:
        return path, False, "switched off (PYTHONNOUSERSITE=1 or python -s)"
    if not site.ENABLE_USER_SITE:
        return path, False, "not enabled for this interpreter (a virtualenv without system site packages)"
    return path, True, ""


def installed_layers(path: list[str] | None = None, user_site: str | None | bool = True) -> Layers:
    """Every distribution importable from `path` (default sys.path), split into the image's and the user's.

    `user_site`: the user site directory (default: this interpreter's, when Python uses it); False or None for
    none. Within each layer the first distribution of a name in path order wins, as for imports; a user
    distribution that comes before an image one of the same name shadows it.
    """
    layers = Layers()
    if user_site is True:
        layers.user_site, layers.user_site_enabled, layers.user_site_off_reason = _user_site_state()
        site_dir = layers.user_site if layers.user_site_enabled else None
    else:
        site_dir = user_site or None
        layers.user_site, layers.user_site_enabled = site_dir, site_dir is not None
    image: dict[str, tuple[Distribution, str]] = {}
    user: dict[str, Distribution] = {}
    winner: dict[str, str] = {}
    for entry in sys.path if path is None else path:
        is_user = site_dir is not None and _same_dir(entry, site_dir)
        for dist in metadata.distributions(path=[entry]):  # in sys.path order, like imports
            name = _dist_name(dist)
            if not name:
                continue  # a broken .dist-info without a name: nothing to compare
            key = normalize(name)
            found = Distribution(name=name, version=dist.version or "")
            winner.setdefault(key, "user" if is_user else "image")
            if is_user:
                user.setdefault(key, found)
            elif key not in image:
                image[key] = (found, entry)
    for key, dist in user.items():
        if key in image and winner[key] == "user":
            shadowed, location = image[key]
            layers.shadowed.append(Shadow(dist.name, dist.version, shadowed.version, location))
    if layers.user_site and not layers.user_site_enabled and os.path.isdir(layers.user_site):
        names = {normalize(n) for n in map(_dist_name, metadata.distributions(path=[layers.user_site])) if n}
        layers.user_site_off_count = len(names)
    layers.image = sorted((d for d, _ in image.values()), key=lambda d: d.normalized)
    layers.user = sorted(user.values(), key=lambda d: d.normalized)
    layers.shadowed.sort(key=lambda s: normalize(s.name))
    return layers


def installed_distributions() -> list[Distribution]:
    """Every distribution importable here, by name; where two share a name, the one Python imports wins."""
    layers = installed_layers()
    seen = {d.normalized: d for d in layers.image}
    seen.update({d.normalized: d for d in layers.user if d.normalized not in seen or _shadows(layers, d)})
    return sorted(seen.values(), key=lambda d: d.normalized)


def _shadows(layers: Layers, dist: Distribution) -> bool:
    return any(normalize(s.name) == dist.normalized for s in layers.shadowed)


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
    distributions: list[Distribution] = field(
        default_factory=list
    )  # the image's layer (what a lock describes)
    user: Layers = field(default_factory=Layers)  # the user's layer (user site), and what it shadows

    def installed(self) -> dict[str, str]:
        """The image's layer, {normalised name: version}: what is compared with a lock (user packages are not
        drift of the image; they are listed, and shadowing is reported, on their own)."""
        return {d.normalized: d.version for d in self.distributions}


def collect() -> Environment:
    """Read everything; torch and NVML are optional (reported as missing, not raised)."""
    from summarytool.selfcheck import nvml

    try:
        from summarytool.selfcheck import torchbuild

        torch_info: dict[str, Any] | None = torchbuild.query().to_dict()
    except ImportError:
        torch_info = None
    layers = installed_layers()
    return Environment(
        python=python_description(),
        os=os_description(),
        torch=torch_info,
        nvml=nvml.query().to_dict(),
        distributions=layers.image,
        user=layers,
    )
