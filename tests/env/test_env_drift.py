"""Comparing installed distributions with a lock: added, removed, changed, and what is not drift."""

from __future__ import annotations

from pathlib import Path

from summarytool.envreport import drift, lockfile


def _lock(tmp_path: Path, text: str) -> lockfile.LockFile:
    path = tmp_path / "requirements.lock"
    path.write_text(text, encoding="utf-8")
    return lockfile.parse(path)


def test_added_removed_changed(tmp_path: Path) -> None:
    lock = _lock(tmp_path, "torch==2.8.0\nnumpy==2.3.0\nJinja2==3.1.6\n")
    installed = {"torch": "2.13.0", "numpy": "2.3.0", "rich": "14.0.0"}
    result = drift.compare(installed, lock)
    assert result.has_drift
    assert result.added == [("rich", "14.0.0")]
    assert result.removed == [("jinja2", "3.1.6")]
    assert result.changed == [drift.Change(name="torch", locked="2.8.0", installed="2.13.0")]


def test_a_different_build_of_the_same_version_is_a_change(tmp_path: Path) -> None:
    # Someone pip-installed the CPU wheel of the same torch release into the shared image.
    result = drift.compare({"torch": "2.8.0+cpu"}, _lock(tmp_path, "torch==2.8.0\n"))
    assert [(c.locked, c.installed) for c in result.changed] == [("2.8.0", "2.8.0+cpu")]


def test_equal_versions_spelled_differently_are_no_drift(tmp_path: Path) -> None:
    result = drift.compare({"six": "1.0.0", "pyyaml": "6.0.2"}, _lock(tmp_path, "six==1.0\nPyYAML==6.0.2\n"))
    assert not result.has_drift


def test_pip_and_setuptools_alone_are_no_drift_unless_locked(tmp_path: Path) -> None:
    installed = {"pip": "25.0", "setuptools": "80.0", "six": "1.17.0"}
    result = drift.compare(installed, _lock(tmp_path, "six==1.17.0\n"))
    assert not result.has_drift and result.ignored == ["pip", "setuptools"]
    locked = drift.compare(installed, _lock(tmp_path, "six==1.17.0\npip==24.0\n"))
    assert locked.changed == [drift.Change("pip", "24.0", "25.0")]


def test_extra_ignored_names(tmp_path: Path) -> None:
    result = drift.compare({"summarytool": "0.1.0"}, _lock(tmp_path, ""), ("Summary_Tool", "summarytool"))
    assert not result.has_drift


def test_unpinned_lines_are_checked_against_their_specifier(tmp_path: Path) -> None:
    lock = _lock(tmp_path, "numpy>=2,<3\nrich~=13.0\n")
    result = drift.compare({"numpy": "2.1.0", "rich": "14.1.0"}, lock)
    assert result.changed == [drift.Change("rich", "~=13.0", "14.1.0")]
