"""User packages (the user site, ~/.local) that replace the image's locked ones: a WARN that names them.

In the workstation image `pip install X` as dev is a user install on the home volume. That is how people add
what they need, but a user package of the same name as a locked one (another torch, an older numpy) is what
Python then imports, and the image's tested combination no longer holds. The self-check says so.
"""

from __future__ import annotations

import os

from summarytool.envreport.collect import Layers, installed_layers
from summarytool.selfcheck.verdicts import Finding, Verdict

CHECK = "user-packages"


def _home(path: str | None) -> str:
    home = os.path.expanduser("~")
    if path and home not in ("", "/") and path.startswith(home + os.sep):
        return "~" + path[len(home) :]
    return path or "(none)"


def findings(layers: Layers) -> list[Finding]:
    """A WARN per shadowed package; an OK when user packages exist and replace nothing; nothing otherwise."""
    if not layers.user_site_enabled or not layers.user:
        return []
    where = _home(layers.user_site)
    if not layers.shadowed:
        return [
            Finding(
                CHECK,
                Verdict.OK,
                f"{len(layers.user)} user package(s) in {where}, none replaces one of the image's",
            )
        ]
    return [
        Finding(
            CHECK,
            Verdict.WARN,
            f"user package {s.name} {s.user_version} shadows the image's locked {s.name} {s.image_version}",
            reason=f"Python imports the user's copy (in {where}) instead of the one the image was built and "
            f"tested with (in {s.image_location})",
            fix=f"remove it (pip uninstall {s.name}) to get the image's back, or start with PYTHONNOUSERSITE=1 "
            "to switch every user package off; keep a project's own versions in a venv of its own "
            "(python -m venv --system-site-packages)",
        )
        for s in layers.shadowed
    ]


def section_lines(layers: Layers) -> list[str]:
    if not layers.user_site_enabled:
        if layers.user_site_off_count:
            return [
                f"user packages: {layers.user_site_off_count} in {_home(layers.user_site)}, not used "
                f"({layers.user_site_off_reason})"
            ]
        return []
    if not layers.user:
        return []
    return [f"user packages: {len(layers.user)} in {_home(layers.user_site)}"]


def query() -> Layers:
    return installed_layers()
