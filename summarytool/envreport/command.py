"""`summarytool env [--json] [--against LOCK] [--strict] [--ignore NAME]`: print the environment and its drift.

JSON schema "summarytool.env/1": {"schema", "python": {...}, "os": {...}, "torch": {...} | null,
"nvml": {...}, "packages": [{"name", "normalized_name", "version"}] (the image's layer: the venv and below),
"user_site": {"path", "enabled", "off_reason", "off_count"}, "user_packages": [{"name", "normalized_name",
"version"}] (the user site, ~/.local), "shadowed": [{"name", "normalized_name", "user_version", "image_version",
"image_location"}] (user packages imported instead of the image's), "drift": null | {"lock", "has_drift",
"added": [{"name", "installed"}], "removed": [{"name", "locked"}], "changed": [{"name", "locked",
"installed"}], "ignored": [...], "notes": [...]}, "exit_code"}.
Only the image's layer is compared with the lock: user packages are listed as a layer of their own, not as drift.
Exit code: 0; 1 when --strict and the environment drifted from the lock; 2 for a lock file that cannot be read.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from summarytool.envreport import collect, drift, lockfile
from summarytool.selfcheck.command import emit

SCHEMA = "summarytool.env/1"
EXIT_DRIFT = 1
EXIT_USAGE = 2


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `env` sub-command to the `summarytool` parser."""
    parser = subparsers.add_parser(
        "env",
        help="print Python, OS, torch/CUDA, GPUs and every installed package; compare with a lock file",
        description=(
            "Print what this environment is made of. With --against LOCK, name every package added, removed "
            "or changed compared with a pip requirements/lock file (exit 1 on drift with --strict)."
        ),
    )
    parser.add_argument("--json", action="store_true", help=f"print one JSON document ({SCHEMA})")
    parser.add_argument("--against", metavar="LOCK", help="a pip requirements/lock file to compare with")
    parser.add_argument("--strict", action="store_true", help="exit 1 when the environment drifted from LOCK")
    parser.add_argument(
        "--ignore",
        metavar="NAME",
        action="append",
        default=[],
        help=f"a package whose presence alone is no drift (repeatable; always: {', '.join(drift.DEFAULT_IGNORED)})",
    )
    parser.set_defaults(func=run)


def _torch_line(torch: dict[str, Any] | None) -> str:
    if torch is None:
        return "not installed"
    return (
        f"{torch['torch_version']}; CUDA {torch['cuda_version'] or 'none (CPU-only build)'}; "
        f"cuDNN {torch['cudnn_version_str'] or 'none'}; NCCL {torch['nccl_version'] or 'none'}"
    )


def _gpu_lines(nvml: dict[str, Any]) -> list[str]:
    if nvml["status"] != "ok":
        return [f"none visible (NVML: {nvml['error']})"]
    lines = [f"driver {nvml['driver_version']} (CUDA {nvml['cuda_driver_version_str']})"]
    for g in nvml["gpus"]:
        gib = g["memory_total_bytes"] / 1024**3
        lines.append(f"GPU {g['index']}: {g['name']}, {gib:.1f} GiB, {g['sm']}")
    return lines


def _user_lines(layers: collect.Layers) -> list[str]:
    """The user's layer: packages in the user site (`pip install X` as a user who cannot write the venv)."""
    where = layers.user_site or "(no user site directory)"
    if not layers.user_site_enabled:
        if not layers.user_site_off_count:
            return []
        return [
            f"User packages: {layers.user_site_off_count} in {where}, not used: {layers.user_site_off_reason}"
        ]
    shadows = {collect.normalize(s.name): s for s in layers.shadowed}
    out = [
        f"User packages  {len(layers.user)} in {where} (not part of the image; PYTHONNOUSERSITE=1 hides them):"
    ]
    for d in layers.user:
        shadow = shadows.get(d.normalized)
        note = (
            ""
            if shadow is None
            else f"  shadows the image's {shadow.image_version} ({shadow.image_location})"
        )
        out.append(f"  {d.name}=={d.version}{note}")
    return out


def render_text(env: collect.Environment, result: drift.Drift | None) -> str:
    py, os_ = env.python, env.os
    out = [
        f"Python    {py['version']} ({py['implementation']}) {py['executable']}"
        + ("  [virtualenv]" if py["virtualenv"] else ""),
        f"OS        {os_['name']}; {os_['platform']}",
        f"torch     {_torch_line(env.torch)}",
    ]
    gpus = _gpu_lines(env.nvml)
    out.append(f"GPUs      {gpus[0]}")
    out.extend(f"          {line}" for line in gpus[1:])
    out.append(f"Packages  {len(env.distributions)} installed:")
    out.extend(f"  {d.name}=={d.version}" for d in env.distributions)
    out.extend(_user_lines(env.user))
    if result is not None:
        out.append("")
        if not result.has_drift:
            out.append(f"No drift: the installed packages match {result.lock_path}")
        else:
            out.append(
                f"Drift against {result.lock_path}: {len(result.added)} added, {len(result.removed)} removed, "
                f"{len(result.changed)} changed"
            )
        out.extend(f"  added    {n}=={v} (installed, not in the lock)" for n, v in result.added)
        out.extend(f"  removed  {n} {v} (in the lock, not installed)" for n, v in result.removed)
        out.extend(f"  changed  {c.name}: lock {c.locked}, installed {c.installed}" for c in result.changed)
        if result.ignored:
            out.append("  ignored (not in the lock, no drift by themselves): " + ", ".join(result.ignored))
        out.extend(f"  note: {n}" for n in result.notes)
    return "\n".join(out)


def to_dict(env: collect.Environment, result: drift.Drift | None, exit_code: int) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "python": env.python,
        "os": env.os,
        "torch": env.torch,
        "nvml": env.nvml,
        "packages": [
            {"name": d.name, "normalized_name": d.normalized, "version": d.version} for d in env.distributions
        ],
        "user_site": env.user.user_site_dict(),
        "user_packages": [
            {"name": d.name, "normalized_name": d.normalized, "version": d.version} for d in env.user.user
        ],
        "shadowed": [s.to_dict() for s in env.user.shadowed],
        "drift": None if result is None else result.to_dict(),
        "exit_code": exit_code,
    }


def _one_line(text: str, limit: int = 500) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def run(args: argparse.Namespace) -> int:
    """Print the environment (and its drift); exit 1 only for drift under --strict, 2 for a bad lock."""
    lock = None
    if args.against is not None:
        try:
            lock = lockfile.parse(args.against)
        except lockfile.LockFileError as exc:
            print(f"summarytool env: {_one_line(str(exc))}", file=sys.stderr)
            return EXIT_USAGE
        except (
            RecursionError,
            MemoryError,
            ValueError,
        ) as exc:  # the parser's bounds should stop these first
            print(
                f"summarytool env: cannot read the lock file {args.against!r}: "
                f"{_one_line(str(exc) or type(exc).__name__)}",
                file=sys.stderr,
            )
            return EXIT_USAGE
    elif args.strict:
        print(
            "summarytool env: --strict needs --against LOCK (there is nothing to drift from)", file=sys.stderr
        )
        return EXIT_USAGE
    env = collect.collect()
    result = None
    if lock is not None:
        result = drift.compare(env.installed(), lock, tuple(drift.DEFAULT_IGNORED) + tuple(args.ignore))
    exit_code = EXIT_DRIFT if args.strict and result is not None and result.has_drift else 0
    emit(json.dumps(to_dict(env, result, exit_code), indent=2) if args.json else render_text(env, result))
    return exit_code
