"""Installed distributions against a lock file: what was added, removed or changed since the lock was made."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from summarytool.envreport.lockfile import LockFile
from summarytool.envreport.names import normalize

# Present but unlocked, these are no drift: pip-compile leaves pip/setuptools/wheel out of locks by default
# ("unsafe" packages), and summarytool itself is installed from its source tree after the lock.
DEFAULT_IGNORED = ("pip", "setuptools", "wheel", "summarytool")
# Longer strings are compared as text: packaging turns each number in a version into an int, and
# Python refuses ints of more than 4,300 digits (a ValueError, not InvalidVersion).
_MAX_VERSION_CHARS = 256
_MAX_SPECIFIER_CHARS = 2000


@dataclass(frozen=True)
class Change:
    name: str
    locked: str  # the pinned version or the specifier, e.g. "2.8.0" or ">=1.0"
    installed: str


@dataclass
class Drift:
    lock_path: str
    added: list[tuple[str, str]] = field(default_factory=list)  # (name, installed version)
    removed: list[tuple[str, str]] = field(default_factory=list)  # (name, locked version or specifier)
    changed: list[Change] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def has_drift(self) -> bool:
        return bool(self.added or self.removed or self.changed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "lock": self.lock_path,
            "has_drift": self.has_drift,
            "added": [{"name": n, "installed": v} for n, v in self.added],
            "removed": [{"name": n, "locked": v} for n, v in self.removed],
            "changed": [asdict(c) for c in self.changed],
            "ignored": self.ignored,
            "notes": self.notes,
        }


def same_version(locked: str, installed: str) -> bool:
    """PEP 440 equality (1.0 == 1.0.0) but with the local part counted: 2.8.0 is not 2.8.0+cpu, another build."""
    try:
        from packaging.version import InvalidVersion, Version
    except ImportError:
        return locked.strip().lower().lstrip("v") == installed.strip().lower().lstrip("v")
    if max(len(locked), len(installed)) > _MAX_VERSION_CHARS:
        return locked.strip() == installed.strip()
    try:
        return Version(locked) == Version(installed)
    except (InvalidVersion, ValueError):  # ValueError: a number too long for int()
        return locked.strip() == installed.strip()


def _satisfies(specifier: str, installed: str) -> bool | None:
    """Whether `installed` meets a non-pinning specifier; None when it cannot be told."""
    try:
        from packaging.specifiers import InvalidSpecifier, SpecifierSet
        from packaging.version import InvalidVersion, Version
    except ImportError:
        return None
    if len(specifier) > _MAX_SPECIFIER_CHARS or len(installed) > _MAX_VERSION_CHARS:
        return None
    try:
        return Version(installed) in SpecifierSet(specifier, prereleases=True)
    except (InvalidSpecifier, InvalidVersion, ValueError, RecursionError):
        return None


def compare(installed: dict[str, str], lock: LockFile, ignore: tuple[str, ...] = DEFAULT_IGNORED) -> Drift:
    """Compare installed {normalised name: version} with the lock. Ignored names count only when locked."""
    drift = Drift(lock_path=lock.path, notes=list(lock.notes))
    ignored = {normalize(n) for n in ignore}
    for name in sorted(installed):
        if name in lock.requirements:
            continue
        if name in ignored:
            drift.ignored.append(name)
        else:
            drift.added.append((name, installed[name]))
    for name, req in sorted(lock.requirements.items()):
        if name not in installed:
            drift.removed.append((name, req.version or req.specifier or "any version"))
            continue
        have = installed[name]
        if req.version is not None:
            if not same_version(req.version, have):
                drift.changed.append(Change(name=name, locked=req.version, installed=have))
        elif req.specifier and not req.specifier.startswith("@"):
            ok = _satisfies(req.specifier, have)
            if ok is None:
                drift.notes.append(f"{name}: cannot check {have} against {req.specifier!r}")
            elif not ok:
                drift.changed.append(Change(name=name, locked=req.specifier, installed=have))
    return drift
