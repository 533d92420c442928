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

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from summarytool.envreport.names import normalize

# Every step below is a str method (find, split, strip, partition), each linear in its input, called
# a bounded number of times per character: no regex, so no backtracking (a run of spaces once took
# quadratic time in "(^|\s+)#"). What a hostile lock can make the parser read is bounded too.
MAX_FILE_BYTES = 16 * 1024 * 1024  # one file
MAX_TOTAL_BYTES = 64 * 1024 * 1024  # all files, includes included
MAX_INCLUDE_DEPTH = 32  # -r inside -r inside ...
MAX_FILES = 1024  # files read (includes, counted each time they are read)
MAX_VERSION_CHARS = 200
MAX_MARKER_CHARS = 2000
MAX_SPECIFIER_CHARS = 2000

_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_NAME_CHARS = _ALNUM + "._-"
_VERSION_CHARS = _ALNUM + ".+!_-"
_SPEC_VERSION_CHARS = _VERSION_CHARS + "*"
_OPERATORS = ("===", "~=", "==", "!=", "<=", ">=", "<", ">")  # longest first
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


def _short(text: str, limit: int = 80) -> str:
    """`text` for a one-line message: repr'd, and cut when long (a hostile line may be megabytes)."""
    return repr(text) if len(text) <= limit else repr(text[:limit]) + f"... ({len(text):,} characters)"


def _after_space(text: str, needle: str, start: int = 0) -> Iterator[int]:
    """Each position (in order, from `start`) of a `needle` that starts `text` or follows a space/tab.

    Each kind of match is searched for again only after it is passed, so all of them cost one scan.
    """
    if start == 0 and text.startswith(needle):
        yield 0
    found = {space: text.find(space + needle, start) for space in (" ", "\t")}
    while True:
        live = [at for at in found.values() if at != -1]
        if not live:
            return
        at = min(live)
        yield at + 1
        for space, position in found.items():
            if position == at:
                found[space] = text.find(space + needle, at + 1)


def _find_after_space(text: str, needle: str) -> int:
    """The first `needle` that starts `text` or follows whitespace; -1 if none."""
    return next(_after_space(text, needle), -1)


def _strip_comment(line: str) -> str:
    """`line` without its comment: from a '#' at the start or after whitespace (a URL's '#sha256' stays)."""
    at = _find_after_space(line, "#")
    return line if at == -1 else line[:at]


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """Join backslash continuations and drop comments, keeping the number of each logical line's first line."""
    out: list[tuple[int, str]] = []
    parts: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = _strip_comment(raw).rstrip()
        if not parts:
            start = number
        if line.endswith("\\"):
            parts.append(line[:-1] + " ")
            continue
        parts.append(line)
        joined = "".join(parts).strip()
        if joined:
            out.append((start, joined))
        parts = []
    joined = "".join(parts).strip()
    if joined:
        out.append((start, joined))
    return out


def _marker_applies(marker: str, where: str) -> bool | None:
    """True/False for this interpreter; None when `packaging` is missing and markers cannot be evaluated."""
    try:
        from packaging.markers import Marker
    except ImportError:
        return None
    if len(marker) > MAX_MARKER_CHARS:
        raise LockFileError(
            f"{where}: the environment marker is {len(marker):,} characters long (at most {MAX_MARKER_CHARS:,})"
        )
    try:
        return bool(Marker(marker).evaluate())
    except RecursionError:
        raise LockFileError(
            f"{where}: invalid environment marker {_short(marker)}: nested too deeply"
        ) from None
    except Exception as exc:  # InvalidMarker, and whatever else packaging says of a hostile marker
        detail = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise LockFileError(f"{where}: invalid environment marker {_short(marker)}: {detail}") from None


def _split_options(line: str) -> str:
    """Drop per-requirement options (`--hash=...`, `--config-settings ...`): they follow the requirement."""
    for at in _after_space(line, "--", 1):
        after = line[at + 2 : at + 3]
        if after.isascii() and after.isalpha():
            return line[:at].strip()
    return line


def _include_target(line: str) -> str | None:
    """The file named by `-r FILE`, `-rFILE` or `--requirement[=| ]FILE`; None for any other line."""
    if line.startswith("-r"):
        target = line[2:].strip()
    elif line.startswith("--requirement") and line[13:14] in ("=", " ", "\t"):
        target = line[14:].strip()
    else:
        return None
    return target or None


def _is_version(text: str, chars: str) -> bool:
    return bool(text) and text[0] in _ALNUM and not text.lstrip(chars)


def _specifier_ok(rest: str) -> bool:
    """`rest` is a comma-separated PEP 440 specifier: each clause an operator then a version."""
    for clause in rest.split(","):
        clause = clause.strip()
        if not clause:
            continue  # a trailing comma, as the old reader allowed
        op = next((o for o in _OPERATORS if clause.startswith(o)), None)
        if op is None or not _is_version(clause[len(op) :].strip(), _SPEC_VERSION_CHARS):
            return False
    return bool(rest.strip(", \t"))


def _split_marker(body: str) -> tuple[str, str]:
    """(requirement, marker). After a URL (`name @ url`) the ';' must follow whitespace (PEP 508)."""
    if "@" in body:
        at = _find_after_space(body, ";")
        if at <= 0:
            return body, ""
        return body[:at], body[at + 1 :]
    spec, _, marker = body.partition(";")
    return spec, marker


def parse_requirement(line: str, where: str) -> tuple[LockedRequirement, str]:
    """One requirement line -> (requirement, marker). `where` ("file:line") goes into any error."""
    body = _split_options(line)
    spec_part, marker = _split_marker(body)
    spec_part, marker = spec_part.strip(), " ".join(marker.split())
    rest = spec_part.lstrip(_NAME_CHARS)
    name = spec_part[: len(spec_part) - len(rest)]
    if not name or name[0] not in _ALNUM or name[-1] not in _ALNUM:
        raise LockFileError(
            f"{where}: cannot read {_short(line)} as a requirement; expected NAME==VERSION, optionally with "
            f"[extras], a '; marker' and --hash options"
        )
    rest = rest.lstrip()
    extras = ""
    if rest.startswith("["):
        close = rest.find("]")
        if close == -1 or "[" in rest[1:close]:
            raise LockFileError(f"{where}: the [extras] of {_short(line)} are not closed with ']'")
        extras, rest = rest[: close + 1], rest[close + 1 :]
    rest = rest.strip()
    version = None
    if rest.startswith("==") and not rest.startswith("====") and "," not in rest:
        candidate = rest[3:] if rest.startswith("===") else rest[2:]
        candidate = candidate.strip()
        if _is_version(candidate, _VERSION_CHARS):
            version = candidate
    if version is not None and len(version) > MAX_VERSION_CHARS:
        raise LockFileError(
            f"{where}: the version of {name} is {len(version):,} characters long (at most {MAX_VERSION_CHARS}); "
            "write the version pip freeze writes"
        )
    if version is None and rest and not rest.startswith("@"):
        if len(rest) > MAX_SPECIFIER_CHARS:
            raise LockFileError(
                f"{where}: the version part of {name} is {len(rest):,} characters long "
                f"(at most {MAX_SPECIFIER_CHARS:,}); write NAME==VERSION"
            )
        if not _specifier_ok(rest):
            raise LockFileError(
                f"{where}: cannot read the version part {_short(rest)} of {_short(line)}; write NAME==VERSION "
                f"(or a PEP 440 specifier such as NAME>=1.0)"
            )
    requirement = LockedRequirement(
        name=normalize(name),
        raw_name=name,
        version=version,
        specifier=rest,
        extras=extras,
        marker=marker,
        source=where,
    )
    return requirement, marker


@dataclass
class _Budget:
    """What one parse may still read, over the top file and every file it includes."""

    files: int = MAX_FILES
    total_bytes: int = MAX_TOTAL_BYTES


def _read(path: Path, where: str, budget: _Budget) -> str:
    """The file's text, reading at most MAX_FILE_BYTES (+1, to tell a longer file): never unbounded."""
    shown = str(path)
    budget.files -= 1
    if budget.files < 0:
        raise LockFileError(
            f"{where}: more than {MAX_FILES:,} files read through -r includes; include each file once"
        )
    try:
        if path.is_dir():
            raise LockFileError(f"{shown!r} is a folder; pass a pip requirements/lock file")
        with open(path, "rb") as f:
            data = f.read(min(MAX_FILE_BYTES, budget.total_bytes) + 1)
    except OSError as exc:
        raise LockFileError(
            f"cannot read the lock file {shown!r}: {exc.strerror or exc}; pass the path of a pip "
            f"requirements/lock file (e.g. the output of `pip freeze` or `pip-compile`)"
        ) from None
    if len(data) > MAX_FILE_BYTES:
        raise LockFileError(
            f"{shown!r} is larger than {MAX_FILE_BYTES // 2**20} MiB; a lock file is text of a few kB "
            "(is it the right file?)"
        )
    if len(data) > budget.total_bytes:
        raise LockFileError(
            f"{where}: the lock and the files it includes add up to more than "
            f"{MAX_TOTAL_BYTES // 2**20} MiB; include each file once"
        )
    budget.total_bytes -= len(data)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise LockFileError(f"{shown!r} is not a text file; pass a pip requirements/lock file") from None
    if "\x00" in text:
        raise LockFileError(
            f"{shown!r} holds NUL bytes, so it is not a text file; pass a pip requirements/lock file"
        )
    return text


def parse(path: str | Path, _seen: frozenset[Path] = frozenset(), _budget: _Budget | None = None) -> LockFile:
    """Read the lock file at `path` (and the files it includes with -r, at most MAX_INCLUDE_DEPTH deep)."""
    path = Path(path)
    budget = _Budget() if _budget is None else _budget
    text = _read(path, str(path), budget)
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
            if len(seen) >= MAX_INCLUDE_DEPTH + 1:
                raise LockFileError(
                    f"{where}: -r {_short(target)} nests includes more than {MAX_INCLUDE_DEPTH} files deep; "
                    "include the files from one top-level lock"
                )
            sub = parse(included, seen, budget)
            lock.requirements.update(sub.requirements)
            lock.not_for_this_environment.extend(sub.not_for_this_environment)
            lock.notes.extend(sub.notes)
            continue
        if first in ("-e", "--editable") or first.startswith("--editable="):
            lock.notes.append(f"{where}: editable requirement skipped: {_short(line, 200)}")
            continue
        if first.startswith("-"):
            if first.split("=")[0] not in _GLOBAL_OPTIONS:
                lock.notes.append(f"{where}: option skipped: {_short(line, 200)}")
            continue
        if first.startswith((".", "/")) or "://" in first:
            lock.notes.append(f"{where}: requirement without a package name skipped: {_short(line, 200)}")
            continue
        requirement, marker = parse_requirement(line, where)
        if marker:
            applies = _marker_applies(marker, where)
            if applies is None:
                lock.notes.append(
                    f"{where}: marker {_short(marker)} not evaluated (packaging is not installed)"
                )
            elif not applies:
                lock.not_for_this_environment.append(requirement)
                continue
        previous = lock.requirements.get(requirement.name)
        if previous is not None and previous.version != requirement.version:
            raise LockFileError(
                f"{where}: {requirement.raw_name} is pinned again ({_short(requirement.specifier)}; "
                f"{previous.source} has {_short(previous.specifier)}); keep one line per package"
            )
        lock.requirements[requirement.name] = requirement
    return lock
