"""Reads a pip requirements / lock file (as written by `pip freeze`, `pip-compile --generate-hashes` or
`uv pip compile`) into one pinned version per package.

Understood: `name==version` and `name===version`, extras (`name[extra]==1.0`), environment markers
(`; python_version < "3.12"`, evaluated for this interpreter when `packaging` is importable), per-requirement
options (`--hash=...`), backslash continuation lines, comments, `-r other.txt` includes, and the global
options pip allows (`--index-url`, ...), which are skipped. Unpinned lines (`name>=1.0`, `name @ url`) are
kept with their specifier. Anything else is an error naming the line, because a lock that is misread would
hide exactly the drift it is there to catch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from summarytool.envreport.names import normalize

_COMMENT = re.compile(r"(^|\s+)#.*$")
_REQUIREMENT = re.compile(
    r"^(?P<name>[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*(?P<extras>\[[^\]]*\])?\s*(?P<rest>.*)$"
)
_PIN = re.compile(r"^={2,3}\s*(?P<version>[A-Za-z0-9][A-Za-z0-9.+!_-]*)$")
_SPECIFIER = re.compile(r"^(?:(?:~=|==|!=|<=|>=|<|>|===)\s*[A-Za-z0-9.*+!_-]+\s*,?\s*)+$")
# Options that take a value and apply to the whole file; skipped.
_GLOBAL_OPTIONS = (
    "-i",
    "--index-url",
    "--extra-index-url",
    "--no-index",
    "-f",
    "--find-links",
    "--trusted-host",
    "--pre",
    "--prefer-binary",
    "--require-hashes",
    "--only-binary",
    "--no-binary",
    "--use-feature",
    "-c",
    "--constraint",
)


class LockFileError(ValueError):
    """A lock file that cannot be read or understood; the message names the file, the line and the fix."""


@dataclass(frozen=True)
class LockedRequirement:
    name: str  # PEP 503 normalised
    raw_name: str
    version: str | None  # the pinned version; None for an unpinned line
    specifier: str  # what followed the name, e.g. "==2.8.0", ">=1.0", "@ https://..."
    extras: str
    marker: str
    source: str  # "file:line"


@dataclass
class LockFile:
    path: str
    requirements: dict[str, LockedRequirement] = field(default_factory=dict)
    # Lines that name a package whose marker is false here (e.g. Windows-only): not expected to be installed.
    not_for_this_environment: list[LockedRequirement] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """Join backslash continuations and drop comments, keeping the number of each logical line's first line."""
    out: list[tuple[int, str]] = []
    buffer, start = "", 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = _COMMENT.sub("", raw).rstrip()
        if not buffer:
            start = number
        if line.endswith("\\"):
            buffer += line[:-1] + " "
            continue
        buffer += line
        if buffer.strip():
            out.append((start, buffer.strip()))
        buffer = ""
    if buffer.strip():
        out.append((start, buffer.strip()))
    return out


def _marker_applies(marker: str, where: str) -> bool | None:
    """True/False for this interpreter; None when `packaging` is missing and markers cannot be evaluated."""
    try:
        from packaging.markers import InvalidMarker, Marker
    except ImportError:
        return None
    try:
        return bool(Marker(marker).evaluate())
    except InvalidMarker as exc:
        raise LockFileError(f"{where}: invalid environment marker {marker!r}: {exc}") from None


def _split_options(line: str) -> str:
    """Drop per-requirement options (`--hash=...`, `--config-settings ...`): they follow the requirement."""
    match = re.search(r"\s--[A-Za-z]", line)
    return line[: match.start()].strip() if match else line


def _include_target(line: str) -> str | None:
    """The file named by `-r FILE`, `-rFILE` or `--requirement[=| ]FILE`; None for any other line."""
    match = re.match(r"^(?:-r\s*|--requirement(?:\s+|=))(?P<target>\S.*)$", line)
    return None if match is None else match["target"].strip()


def parse_requirement(line: str, where: str) -> tuple[LockedRequirement, str]:
    """One requirement line -> (requirement, marker). `where` ("file:line") goes into any error."""
    body = _split_options(line)
    # After a URL (`name @ url`) the marker's ";" must follow whitespace (PEP 508): URLs may hold ";".
    parts = re.split(r"\s;" if "@" in body else ";", body, maxsplit=1)
    spec_part, marker = parts[0], parts[1] if len(parts) > 1 else ""
    spec_part, marker = spec_part.strip(), marker.strip()
    match = _REQUIREMENT.match(spec_part)
    if match is None:
        raise LockFileError(
            f"{where}: cannot read {line!r} as a requirement; expected NAME==VERSION, optionally with [extras], "
            f"a '; marker' and --hash options"
        )
    rest = match["rest"].strip()
    version = None
    pin = _PIN.match(rest)
    if pin is not None:
        version = pin["version"]
    elif rest and not rest.startswith("@") and _SPECIFIER.match(rest) is None:
        raise LockFileError(
            f"{where}: cannot read the version part {rest!r} of {line!r}; write NAME==VERSION "
            f"(or a PEP 440 specifier such as NAME>=1.0)"
        )
    requirement = LockedRequirement(
        name=normalize(match["name"]),
        raw_name=match["name"],
        version=version,
        specifier=rest,
        extras=match["extras"] or "",
        marker=marker,
        source=where,
    )
    return requirement, marker


def parse(path: str | Path, _seen: frozenset[Path] = frozenset()) -> LockFile:
    """Read the lock file at `path` (and the files it includes with -r)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise LockFileError(
            f"cannot read the lock file {str(path)!r}: {exc.strerror or exc}; pass the path of a pip "
            f"requirements/lock file (e.g. the output of `pip freeze` or `pip-compile`)"
        ) from None
    except UnicodeDecodeError:
        raise LockFileError(f"{str(path)!r} is not a text file; pass a pip requirements/lock file") from None
    lock = LockFile(path=str(path))
    seen = _seen | {path.resolve()}
    for number, line in _logical_lines(text):
        where = f"{path.name}:{number}"
        first = line.split()[0]
        target = _include_target(line)
        if target is not None:
            included = (path.parent / target).resolve()
            if included in seen:
                raise LockFileError(f"{where}: {target!r} includes itself (directly or through other files)")
            sub = parse(included, seen)
            lock.requirements.update(sub.requirements)
            lock.not_for_this_environment.extend(sub.not_for_this_environment)
            lock.notes.extend(sub.notes)
            continue
        if first in ("-e", "--editable") or first.startswith("--editable="):
            lock.notes.append(f"{where}: editable requirement skipped: {line}")
            continue
        if first.startswith("-"):
            if first.split("=")[0] not in _GLOBAL_OPTIONS:
                lock.notes.append(f"{where}: option skipped: {line}")
            continue
        if first.startswith((".", "/")) or "://" in first:
            lock.notes.append(f"{where}: requirement without a package name skipped: {line}")
            continue
        requirement, marker = parse_requirement(line, where)
        if marker:
            applies = _marker_applies(marker, where)
            if applies is None:
                lock.notes.append(f"{where}: marker {marker!r} not evaluated (packaging is not installed)")
            elif not applies:
                lock.not_for_this_environment.append(requirement)
                continue
        previous = lock.requirements.get(requirement.name)
        if previous is not None and previous.version != requirement.version:
            raise LockFileError(
                f"{where}: {requirement.raw_name} is pinned again ({requirement.specifier}; "
                f"{previous.source} has {previous.specifier}); keep one line per package"
            )
        lock.requirements[requirement.name] = requirement
    return lock
