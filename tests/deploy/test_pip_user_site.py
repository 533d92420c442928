"""image/pip_user_site.py without an engine: it patches a copy of this venv's pip (when it is the lock's pip), and
the copy's two locality checks then accept the user base, only while the user site is on; another pip is refused.

The image test (tests/image/test_user_packages.py) shows pip upgrading and uninstalling user packages for real."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pip
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "image"))
import pip_user_site  # noqa: E402

LOCKED_PIP = re.search(r"^pip==(\S+)", (REPO / "requirements/image.lock").read_text(), re.M).group(1)

PROBE = r"""
import json, os, sys
from pip._internal.utils.misc import is_local
from pip._internal.req.req_uninstall import UninstallPathSet
base, prefix = os.environ["PYTHONUSERBASE"], sys.prefix
paths = {"user": f"{base}/lib/site-packages/x.py", "sibling": f"{base}x/lib/x.py", "prefix": f"{prefix}/lib/x.py",
         "elsewhere": "/nowhere/x.py"}
uninstall = UninstallPathSet(None)
print(json.dumps({k: [is_local(p), uninstall._permitted(p)] for k, p in paths.items()}))
"""


@pytest.fixture
def pip_copy(tmp_path: Path) -> Path:
    if pip.__version__ != LOCKED_PIP:
        pytest.skip(f"this venv has pip {pip.__version__}, the image's lock {LOCKED_PIP}")
    shutil.copytree(Path(pip.__file__).parent, tmp_path / "pkgs" / "pip")
    return tmp_path / "pkgs" / "pip" / "_internal"


def _probe(internal: Path, tmp_path: Path, **env: str) -> dict[str, list[bool]]:
    base = tmp_path / "userbase"
    base.mkdir(exist_ok=True)
    environment = {k: v for k, v in os.environ.items() if k != "PYTHONNOUSERSITE"}
    environment.update(PYTHONPATH=str(internal.parents[1]), PYTHONUSERBASE=str(base), **env)
    venv = tmp_path / "venv"  # as the image's: a venv with --system-site-packages, where the user site is on
    if not venv.exists():
        subprocess.run(
            [sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", venv], check=True
        )
    out = subprocess.run(
        [venv / "bin" / "python", "-c", PROBE], env=environment, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


def test_the_patched_pip_counts_the_user_base_as_its_own(pip_copy: Path, tmp_path: Path) -> None:
    before = _probe(pip_copy, tmp_path)
    assert before["user"] == [False, False]  # pip as shipped: "outside environment"
    assert pip_user_site.main([str(pip_copy)]) == 0
    after = _probe(pip_copy, tmp_path)
    assert after == {
        "user": [True, True],
        "sibling": [False, False],
        "prefix": [True, True],
        "elsewhere": [False, False],
    }
    # the switch: with the user site off, pip keeps to the venv
    assert _probe(pip_copy, tmp_path, PYTHONNOUSERSITE="1")["user"] == [False, False]
    # compiled, so that dev (who cannot write /opt/venv) does not recompile at every start
    assert list((pip_copy / "utils" / "__pycache__").glob("misc.*.pyc"))


def test_another_pip_or_a_second_run_is_refused_and_nothing_is_written(pip_copy: Path) -> None:
    assert pip_user_site.main([str(pip_copy)]) == 0
    with pytest.raises(SystemExit, match="already patched"):
        pip_user_site.main([str(pip_copy)])
    # a pip whose uninstaller reads differently: refused, and misc.py (whose text fits) is not written either
    shipped = Path(pip.__file__).parent / "_internal"
    misc, uninstall = pip_copy / "utils" / "misc.py", pip_copy / "req" / "req_uninstall.py"
    shutil.copy(shipped / "utils" / "misc.py", misc)
    uninstall.write_text(
        (shipped / "req" / "req_uninstall.py")
        .read_text()
        .replace("_normalize_path_cached(sys.prefix)", "prefix")
    )
    original = misc.read_text()
    with pytest.raises(SystemExit, match="req_uninstall.py does not contain exactly one"):
        pip_user_site.main([str(pip_copy)])
    assert misc.read_text() == original
