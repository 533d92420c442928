"""`summarytool env` for real: the environment of this interpreter, and --against a lock made from it."""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

import pytest
import torch

from summarytool.cli import main
from summarytool.envreport.names import normalize


def _installed() -> dict[str, tuple[str, str]]:
    """{normalised: (name, version)} of this interpreter, read independently of the code under test."""
    found: dict[str, tuple[str, str]] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name and normalize(name) not in found:
            found[normalize(name)] = (name, dist.version)
    return found


def _freeze_lock(tmp_path: Path, skip: set[str] = frozenset(), change: dict[str, str] | None = None,
                 extra: str = "") -> Path:  # fmt: skip
    """A lock in pip-compile style (hashes, comments) listing what is installed, edited as asked."""
    lines = ["# generated for the test", "--index-url https://pypi.org/simple"]
    for key, (name, version) in sorted(_installed().items()):
        if key in skip:
            continue
        version = (change or {}).get(key, version)
        lines += [f"{name}=={version} \\", "    --hash=sha256:" + "0" * 64, "    # via -r requirements.in"]
    path = tmp_path / "requirements.lock"
    path.write_text("\n".join(lines) + "\n" + extra, encoding="utf-8")
    return path


def test_env_lists_every_installed_distribution(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["env", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["schema"] == "summarytool.env/1" and doc["drift"] is None
    listed = {p["normalized_name"]: p["version"] for p in doc["packages"]}
    assert listed == {k: v for k, (_, v) in _installed().items()}
    assert doc["torch"]["torch_version"] == torch.__version__
    assert doc["python"]["version"].count(".") == 2 and doc["os"]["machine"]


def test_text_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["env"]) == 0
    out = capsys.readouterr().out
    torch_name, torch_version = _installed()["torch"]
    assert f"  {torch_name}=={torch_version}" in out
    assert out.startswith("Python    ") and "\nGPUs      " in out


def test_against_a_lock_with_an_extra_a_missing_and_a_changed_package(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lock = _freeze_lock(
        tmp_path,
        skip={"pytest"},  # installed, not locked: added
        change={"torch": "1.0.0"},  # locked at another version: changed
        extra="not-a-real-package-xyz==1.2.3 ; python_version >= '3.8'\n",  # locked, not installed: removed
    )
    assert main(["env", "--json", "--against", str(lock)]) == 0  # drift alone is reported, not fatal
    result = json.loads(capsys.readouterr().out)["drift"]
    assert result["has_drift"]
    assert [a["name"] for a in result["added"]] == ["pytest"]
    assert result["removed"] == [{"name": "not-a-real-package-xyz", "locked": "1.2.3"}]
    assert result["changed"] == [{"name": "torch", "locked": "1.0.0", "installed": _installed()["torch"][1]}]

    assert main(["env", "--against", str(lock), "--strict"]) == 1
    out = capsys.readouterr().out
    assert "Drift against" in out and "1 added, 1 removed, 1 changed" in out
    assert "changed  torch: lock 1.0.0, installed" in out


def test_no_drift_passes_strict(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["env", "--against", str(_freeze_lock(tmp_path)), "--strict"]) == 0
    assert "No drift" in capsys.readouterr().out


def test_bad_lock_is_bad_usage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.lock"
    bad.write_text("torch==2.8.0\nthis is not a requirement\n", encoding="utf-8")
    assert main(["env", "--against", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "bad.lock:2" in err and "NAME==VERSION" in err


def test_strict_without_a_lock_is_bad_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["env", "--strict"]) == 2
    assert "--strict needs --against LOCK" in capsys.readouterr().err
