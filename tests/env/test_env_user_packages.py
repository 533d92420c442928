"""User packages (the user site, ~/.local) as a layer of their own: `summarytool env` lists them apart from the
image's packages (never as drift from its lock), and `summarytool selfcheck` warns when one shadows a locked one.
A fake user site and a fake venv made of .dist-info folders stand in for the image's."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from summarytool.cli import main
from summarytool.envreport import collect, command, drift, lockfile
from summarytool.selfcheck import check, userpackages
from summarytool.selfcheck.report import Section
from summarytool.selfcheck.verdicts import Verdict


def _dist(site: Path, name: str, version: str) -> None:
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n", encoding="utf-8"
    )


@pytest.fixture
def sites(tmp_path: Path) -> tuple[Path, Path]:
    """(user site, image site): the image locks torch 2.8.0 and numpy 2.1.0; the user added tinypkg and
    installed another torch."""
    user, image = tmp_path / "home/.local/lib/python3/site-packages", tmp_path / "opt/venv/site-packages"
    _dist(image, "torch", "2.8.0")
    _dist(image, "numpy", "2.1.0")
    _dist(user, "tinypkg", "0.1")
    _dist(user, "torch", "2.7.1")
    return user, image


def test_layers_split_user_and_image_and_name_the_shadowed(sites: tuple[Path, Path]) -> None:
    user, image = sites
    layers = collect.installed_layers(path=[str(user), str(image)], user_site=str(user))
    assert [(d.name, d.version) for d in layers.image] == [("numpy", "2.1.0"), ("torch", "2.8.0")]
    assert [(d.name, d.version) for d in layers.user] == [("tinypkg", "0.1"), ("torch", "2.7.1")]
    assert [(s.name, s.user_version, s.image_version, s.image_location) for s in layers.shadowed] == [
        ("torch", "2.7.1", "2.8.0", str(image))
    ]


def test_a_user_package_behind_the_image_shadows_nothing(sites: tuple[Path, Path]) -> None:
    user, image = sites
    layers = collect.installed_layers(path=[str(image), str(user)], user_site=str(user))
    assert layers.shadowed == [] and {d.name for d in layers.user} == {"tinypkg", "torch"}


def test_without_a_user_site_everything_is_the_image(sites: tuple[Path, Path]) -> None:
    user, image = sites
    layers = collect.installed_layers(path=[str(user), str(image)], user_site=None)
    assert layers.user == [] and layers.shadowed == []
    # the first of a name wins, as for imports
    assert {d.name: d.version for d in layers.image} == {"torch": "2.7.1", "numpy": "2.1.0", "tinypkg": "0.1"}


def test_user_packages_are_no_drift_of_the_image(sites: tuple[Path, Path], tmp_path: Path) -> None:
    user, image = sites
    layers = collect.installed_layers(path=[str(user), str(image)], user_site=str(user))
    lock_path = tmp_path / "image.lock"
    lock_path.write_text("torch==2.8.0\nnumpy==2.1.0\n", encoding="utf-8")
    env = collect.Environment(python={}, os={}, torch=None, nvml={}, distributions=layers.image, user=layers)
    result = drift.compare(env.installed(), lockfile.parse(lock_path))
    assert not result.has_drift  # tinypkg and the user's torch are not the image's drift


def _fake_interpreter(monkeypatch: pytest.MonkeyPatch, user: Path, image: Path, enabled: bool = True) -> None:
    reason = "" if enabled else "switched off (PYTHONNOUSERSITE=1 or python -s)"
    monkeypatch.setattr(collect, "_user_site_state", lambda: (str(user), enabled, reason))
    monkeypatch.setattr(
        sys, "path", [str(user), *sys.path, str(image)] if enabled else [*sys.path, str(image)]
    )


def test_env_json_and_text_show_the_user_layer(
    sites: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    user, image = sites
    _fake_interpreter(monkeypatch, user, image)
    assert main(["env", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["user_site"] == {"path": str(user), "enabled": True, "off_reason": None, "off_count": 0}
    assert [p["name"] for p in doc["user_packages"]] == ["tinypkg", "torch"]
    assert "tinypkg" not in {p["name"] for p in doc["packages"]}  # the image's layer only
    (shadow,) = [s for s in doc["shadowed"] if s["name"] == "torch"]
    assert shadow["user_version"] == "2.7.1" and shadow["image_location"] != str(user)
    assert main(["env"]) == 0
    out = capsys.readouterr().out
    assert f"User packages  2 in {user}" in out
    assert "  tinypkg==0.1\n" in out
    assert "  torch==2.7.1  shadows the image's " in out


def test_env_says_when_user_packages_are_switched_off(
    sites: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    user, image = sites
    _fake_interpreter(monkeypatch, user, image, enabled=False)
    assert main(["env", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["user_packages"] == [] and doc["shadowed"] == []
    assert doc["user_site"]["enabled"] is False and doc["user_site"]["off_count"] == 2
    assert main(["env"]) == 0
    assert (
        f"User packages: 2 in {user}, not used: switched off (PYTHONNOUSERSITE=1" in capsys.readouterr().out
    )


def test_selfcheck_warns_naming_package_locked_and_shadowing_version(sites: tuple[Path, Path]) -> None:
    user, image = sites
    layers = collect.installed_layers(path=[str(user), str(image)], user_site=str(user))
    (finding,) = userpackages.findings(layers)
    assert finding.verdict is Verdict.WARN and finding.check == "user-packages"
    assert "torch 2.7.1" in finding.message and "locked torch 2.8.0" in finding.message
    assert "PYTHONNOUSERSITE=1" in finding.fix and "pip uninstall torch" in finding.fix


def test_selfcheck_is_quiet_or_ok_without_shadowing(sites: tuple[Path, Path], tmp_path: Path) -> None:
    user, image = sites
    assert userpackages.findings(collect.installed_layers(path=[str(image)], user_site=str(tmp_path))) == []
    only_new = tmp_path / "other-user-site"
    _dist(only_new, "tinypkg", "0.1")
    (ok,) = userpackages.findings(
        collect.installed_layers(path=[str(only_new), str(image)], user_site=str(only_new))
    )
    assert ok.verdict is Verdict.OK and "none replaces" in ok.message


def test_selfcheck_compatibility_section_carries_the_warning(
    sites: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    user, image = sites
    layers = collect.installed_layers(path=[str(user), str(image)], user_site=str(user))
    monkeypatch.setattr(userpackages, "query", lambda: layers)
    section = Section("compatibility", "Compatibility")
    check._user_packages(section)
    assert [f.verdict for f in section.findings] == [Verdict.WARN]
    assert section.data["shadowed"][0]["image_version"] == "2.8.0"
    assert any(line.startswith("user packages: 2 in ") for line in section.lines)


def test_this_interpreter_still_lists_every_distribution(capsys: pytest.CaptureFixture[str]) -> None:
    """Where no user site is in use (the test venv), the image's layer is everything, as before."""
    layers = collect.installed_layers()
    assert {d.normalized for d in collect.installed_distributions()} >= {d.normalized for d in layers.image}
    assert command.SCHEMA == "summarytool.env/1"
