"""Installing packages as dev in the real image (issue 18): `pip install X` over SSH and `%pip install X` in a
notebook cell (through the Jupyter server's REST API and kernel websocket) become user installs on the home
volume, /opt/venv stays as built, a re-created container keeps them, PYTHONNOUSERSITE=1 switches them off,
`summarytool env` / `selfcheck` report a shadowed locked package, and a project venv with its own kernel works.

The wheels are made here (no network inside the container).
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import os
import zipfile
from pathlib import Path

import pytest

LOCK = "/opt/summarytool/image.lock"
WHEELS = "/tmp/test-wheels"


def make_wheel(
    dest: Path, name: str, version: str, files: dict[str, str], scripts: dict[str, str] | None = None
) -> Path:
    """A minimal pure-Python wheel: `files` {path in the wheel: text}, `scripts` {command: "module:function"}."""
    dist = f"{name.replace('-', '_')}-{version}"
    info = f"{dist}.dist-info"
    content, scripts = dict(files), scripts or {}
    content[f"{info}/METADATA"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    content[f"{info}/WHEEL"] = (
        "Wheel-Version: 1.0\nGenerator: image-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    if scripts:
        content[f"{info}/entry_points.txt"] = "[console_scripts]\n" + "".join(
            f"{k} = {v}\n" for k, v in scripts.items()
        )
    record = io.StringIO()
    writer = csv.writer(record, lineterminator="\n")
    for path, text in content.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        writer.writerow([path, f"sha256={digest}", len(text.encode())])
    writer.writerow([f"{info}/RECORD", "", ""])
    wheel = dest / f"{dist}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        for path, text in content.items():
            z.writestr(path, text)
        z.writestr(f"{info}/RECORD", record.getvalue())
    return wheel


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("wheels")
    make_wheel(
        d,
        "tinypkg",
        "0.1",
        {"tinypkg/__init__.py": "VERSION = '0.1'\n\ndef main():\n    print('tinypkg says hello')\n"},
        {"tinypkg-hello": "tinypkg:main"},
    )
    make_wheel(d, "nbpkg", "0.2", {"nbpkg.py": "VALUE = 42\n"})
    make_wheel(d, "projpkg", "1.0", {"projpkg.py": "WHERE = 'project venv'\n"})
    # metadata only: it shadows the image's fqdn 1.6.0 (a locked dependency of jupyter-events) by version, and
    # the image's module is still what imports, so nothing breaks
    make_wheel(d, "fqdn", "99.0", {})
    # one package in two versions, each with a script: upgrading and uninstalling a user package
    for version in ("1.0", "2.0"):
        make_wheel(
            d,
            "uppkg",
            version,
            {"uppkg/__init__.py": f"VERSION = {version!r}\n\ndef main():\n    print('uppkg', VERSION)\n"},
            {"uppkg-version": "uppkg:main"},
        )
    return d


def _copy_wheels(c, docker, wheels: Path) -> None:
    docker("cp", str(wheels), f"{c.name}:{WHEELS}")
    c.exec("chmod", "-R", "a+rX", WHEELS)


def _venv_changes(c) -> str:
    return c.exec("sh", "-c", "find /opt/venv -newer /tmp/venv-marker | head -20").stdout.strip()


def test_pip_install_as_dev_goes_to_the_home_volume_and_survives_a_recreate(start, docker, wheels):
    home = f"st-test-home-{os.getpid()}"
    c = start(volumes={home: "/home/dev"})
    _copy_wheels(c, docker, wheels)
    c.exec("touch", "/tmp/venv-marker")
    # the venv is the image's: dev cannot write it, and pip says it falls back to a user install
    assert c.ssh("test -w /opt/venv/lib/python3*/site-packages", check=False).returncode == 1
    out = c.ssh(f"pip install --no-index {WHEELS}/tinypkg-0.1-py3-none-any.whl 2>&1")
    assert "Defaulting to user installation because normal site-packages is not writeable" in out.stdout
    assert "Successfully installed tinypkg-0.1" in out.stdout
    where = c.ssh("python -c 'import tinypkg; print(tinypkg.__file__)'").stdout.strip()
    assert where.startswith("/home/dev/.local/lib/python3") and where.endswith(
        "/site-packages/tinypkg/__init__.py"
    )
    assert c.ssh("bash -lc tinypkg-hello").stdout.strip() == "tinypkg says hello"  # ~/.local/bin on PATH
    assert _venv_changes(c) == ""  # /opt/venv untouched
    # the venv's packages are all still the lock's (the user's are a layer of their own, not drift)
    assert c.ssh(f"summarytool env --against {LOCK} --strict", check=False).returncode == 0

    docker("rm", "-f", c.name)
    again = start(volumes={home: "/home/dev"})
    assert again.ssh("python -c 'import tinypkg; print(tinypkg.VERSION)'").stdout.strip() == "0.1"
    # a notebook kernel in the new container sees it, and the package's script is on the kernel's PATH
    (cell,) = run_cells(
        again, ["import tinypkg, subprocess; print(subprocess.check_output(['tinypkg-hello']).decode())"]
    )
    assert cell.strip() == "tinypkg says hello", cell

    # PYTHONNOUSERSITE=1: a clean start with the image's packages only, over SSH too
    docker("rm", "-f", again.name)
    clean = start(volumes={home: "/home/dev"}, env={"PYTHONNOUSERSITE": "1"})
    assert clean.ssh("python -c 'import tinypkg'", check=False).returncode == 1
    env = json.loads(clean.ssh("summarytool env --json").stdout)
    assert env["user_site"]["enabled"] is False and env["user_site"]["off_count"] == 1
    assert env["user_packages"] == []
    assert "user packages switched off (PYTHONNOUSERSITE=1)" in clean.logs()


# Runs inside the container: a kernel started through the Jupyter server's REST API, a cell executed over
# the server's kernel websocket (what JupyterLab does), its output printed as JSON.
EXECUTE_CELLS = r"""
import asyncio, json, os, sys, urllib.request, uuid
from tornado.websocket import websocket_connect
token, kernel_name, cells = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
base = "127.0.0.1:8888"
def api(method, path, body=None):
    req = urllib.request.Request(f"http://{base}{path}", method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"token {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read() or b"null")
async def main():
    kernel = api("POST", "/api/kernels", {"name": kernel_name})
    ws = await websocket_connect(f"ws://{base}/api/kernels/{kernel['id']}/channels?token={token}")
    session, results = uuid.uuid4().hex, []
    for code in cells:
        msg_id = uuid.uuid4().hex
        ws.write_message(json.dumps({"channel": "shell", "parent_header": {}, "metadata": {}, "buffers": [],
            "header": {"msg_id": msg_id, "session": session, "username": "test", "msg_type": "execute_request",
                       "version": "5.3"},
            "content": {"code": code, "silent": False, "store_history": True, "user_expressions": {},
                        "allow_stdin": False, "stop_on_error": True}}))
        text = []
        while True:
            msg = json.loads(await asyncio.wait_for(ws.read_message(), 300))
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                text.append(content["text"])
            elif kind in ("execute_result", "display_data"):
                text.append(content["data"].get("text/plain", ""))
            elif kind == "error":
                text.append(f"ERROR {content['ename']}: {content['evalue']}")
            elif kind == "status" and content["execution_state"] == "idle":
                break
        results.append("".join(text))
    api("DELETE", f"/api/kernels/{kernel['id']}")
    print("RESULTS" + json.dumps(results))
asyncio.run(main())
"""


def run_cells(c, cells: list[str], kernel: str = "python3") -> list[str]:
    proc = c.exec("python", "-c", EXECUTE_CELLS, c.token, kernel, json.dumps(cells), user="dev")
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULTS"))
    return json.loads(line.removeprefix("RESULTS"))


USER_SITE = "$(python -c 'import site; print(site.getusersitepackages())')"


def _uppkg_state(c) -> tuple[str, str, str]:
    """(what `import uppkg` says, the uppkg dist-infos in the user site, whether its script is in ~/.local/bin)."""
    imported = c.ssh("python -c 'import uppkg; print(uppkg.VERSION)' 2>&1", check=False).stdout.strip()
    infos = c.ssh(f"cd {USER_SITE} && ls -d uppkg-*.dist-info 2>/dev/null | tr '\\n' ' '", check=False)
    script = c.ssh("test -e ~/.local/bin/uppkg-version && echo script || echo no-script", check=False)
    return imported.splitlines()[-1], infos.stdout.strip(), script.stdout.strip()


def test_upgrading_and_uninstalling_a_user_package(start, docker, wheels):
    """`pip install -U X` and `pip uninstall X` as dev act on the user site (pip in a venv refuses by itself:
    "Not uninstalling X ... outside environment /opt/venv"), over SSH and through %pip, and never on /opt/venv."""
    c = start()
    _copy_wheels(c, docker, wheels)
    c.exec("touch", "/tmp/venv-marker")
    find = f"--no-index --find-links {WHEELS}"
    c.ssh(f"pip install {find} uppkg==1.0")
    assert _uppkg_state(c) == ("1.0", "uppkg-1.0.dist-info", "script")

    up = c.ssh(f"pip install {find} -U uppkg 2>&1").stdout
    assert "Successfully uninstalled uppkg-1.0" in up and "Successfully installed uppkg-2.0" in up, up
    assert "outside environment" not in up, up
    assert "Version: 2.0" in c.ssh("pip show uppkg").stdout.splitlines()
    assert _uppkg_state(c) == ("2.0", "uppkg-2.0.dist-info", "script")  # one version's metadata, not two
    assert c.ssh("bash -lc uppkg-version").stdout.strip() == "uppkg 2.0"

    gone = c.ssh("pip uninstall -y uppkg 2>&1").stdout
    assert "Successfully uninstalled uppkg-2.0" in gone, gone
    imported, infos, script = _uppkg_state(c)
    assert "No module named 'uppkg'" in imported and infos == "" and script == "no-script"
    assert c.ssh("pip show uppkg", check=False).returncode != 0

    # the same through %pip in a notebook kernel (`python -m pip` with the kernel's interpreter)
    install, upgrade, use, uninstall = run_cells(
        c,
        [
            f"%pip install {find} uppkg==1.0",
            f"%pip install {find} -U uppkg",
            "import uppkg; print(uppkg.VERSION)",
            "%pip uninstall -y uppkg",
        ],
    )
    assert "Successfully installed uppkg-1.0" in install, install
    assert (
        "Successfully uninstalled uppkg-1.0" in upgrade and "Successfully installed uppkg-2.0" in upgrade
    ), upgrade
    assert use.strip() == "2.0"
    assert "Successfully uninstalled uppkg-2.0" in uninstall, uninstall
    assert _uppkg_state(c)[1:] == ("", "no-script")

    # the locked environment is not dev's to change: uninstalling one of its packages fails and changes nothing
    refused = c.ssh("pip uninstall -y numpy 2>&1", check=False)
    assert refused.returncode != 0, refused.stdout
    assert c.ssh("python -c 'import numpy'", check=False).returncode == 0
    assert _venv_changes(c) == ""
    assert c.ssh(f"summarytool env --against {LOCK} --strict", check=False).returncode == 0


def test_percent_pip_install_in_a_notebook_cell(start, docker, wheels):
    c = start()
    _copy_wheels(c, docker, wheels)
    install, use = run_cells(
        c,
        [
            f"%pip install --no-index {WHEELS}/nbpkg-0.2-py3-none-any.whl",
            "import nbpkg, sys; print(nbpkg.VALUE, nbpkg.__file__, sys.executable)",
        ],
    )
    assert "Successfully installed nbpkg-0.2" in install, install
    value, path, executable = use.split()
    assert (
        value == "42"
        and path.startswith("/home/dev/.local/lib/python3")
        and executable.startswith("/opt/venv/bin/python")
    )
    assert (
        c.exec(
            "sh", "-c", "ls /opt/venv/lib/python3*/site-packages | grep -c nbpkg", check=False
        ).stdout.strip()
        == "0"
    )


def test_a_user_package_shadowing_a_locked_one_is_reported(start, docker, wheels):
    c = start()
    _copy_wheels(c, docker, wheels)
    locked = c.exec("sh", "-c", f"grep -o '^fqdn==[^ ]*' {LOCK}").stdout.strip().split("==")[1]
    whl = f"{WHEELS}/fqdn-99.0-py3-none-any.whl"
    # pip itself refuses to shadow a venv package by accident (a dependency upgrade)...
    refused = c.ssh(f"pip install --no-index --no-deps {whl} 2>&1", check=False)
    assert refused.returncode != 0 and "Will not install to the user site" in refused.stdout
    # ...and does it when asked (--ignore-installed): the user's copy is then what Python sees
    c.ssh(f"pip install --no-index --no-deps --ignore-installed {whl}")
    assert (
        c.ssh("python -c 'from importlib.metadata import version; print(version(\"fqdn\"))'").stdout.strip()
        == "99.0"
    )
    env = json.loads(c.ssh(f"summarytool env --json --against {LOCK}").stdout)
    (shadow,) = env["shadowed"]
    assert (shadow["name"], shadow["user_version"], shadow["image_version"]) == ("fqdn", "99.0", locked)
    assert shadow["image_location"].startswith("/opt/venv/")
    assert env["drift"]["has_drift"] is False  # the image's layer still matches its lock
    assert "  fqdn==99.0  shadows the image's " + locked in c.ssh(f"summarytool env --against {LOCK}").stdout
    report = c.ssh("summarytool selfcheck --allow-cpu", check=False)
    assert report.returncode == 0, report.stdout  # a WARN, not a FAIL
    assert f"[WARN] user package fqdn 99.0 shadows the image's locked fqdn {locked}" in report.stdout
    doc = json.loads(c.ssh("summarytool selfcheck --allow-cpu --json", check=False).stdout)
    (finding,) = [f for s in doc["sections"] for f in s["findings"] if f["check"] == "user-packages"]
    assert finding["verdict"] == "WARN" and "~/.local/lib/python3" in finding["reason"]
    # and back: `pip uninstall` removes the user's copy only, and the image's is what Python sees again
    assert "Successfully uninstalled fqdn-99.0" in c.ssh("pip uninstall -y fqdn 2>&1").stdout
    assert (
        c.ssh("python -c 'from importlib.metadata import version; print(version(\"fqdn\"))'").stdout.strip()
        == locked
    )
    assert json.loads(c.ssh("summarytool env --json").stdout)["shadowed"] == []


def test_the_base_python_exposes_no_packages_of_its_own(docker, image):
    """--system-site-packages (for the user site) brings in the base Python's dist-packages: they hold none."""
    code = (
        "import site, sys, importlib.metadata as m; "
        "base = [p for p in sys.path if p.startswith('/usr/') and 'packages' in p]; "
        "print(sorted({d.metadata['Name'] for d in m.distributions(path=base)}))"
    )
    out = docker("run", "--rm", "-e", "SELFCHECK=off", image.tag, "python", "-c", code).stdout.strip()
    assert out.splitlines()[-1] == "[]"


def test_a_project_venv_with_its_own_kernel(start, docker, wheels):
    c = start()
    _copy_wheels(c, docker, wheels)
    c.exec("touch", "/tmp/venv-marker")
    c.ssh("python -m venv --system-site-packages ~/venvs/proj")
    # the project venv sees the image's torch and summarytool, and its pip installs into the project venv
    out = c.ssh(
        "~/venvs/proj/bin/python -c 'import torch, summarytool; print(torch.__version__, torch.__file__)'"
    )
    assert out.stdout.split() == ["2.8.0+cu128", out.stdout.split()[1]] and "/opt/venv/" in out.stdout
    inst = c.ssh(f"~/venvs/proj/bin/pip install --no-index {WHEELS}/projpkg-1.0-py3-none-any.whl 2>&1").stdout
    assert "Defaulting to user installation" not in inst and "Successfully installed projpkg-1.0" in inst
    where = c.ssh("~/venvs/proj/bin/python -c 'import projpkg; print(projpkg.__file__)'").stdout.strip()
    assert where.startswith("/home/dev/venvs/proj/lib/python3")
    assert c.ssh("python -c 'import projpkg'", check=False).returncode == 1  # not in the image's python
    # its own Jupyter kernel
    c.ssh("~/venvs/proj/bin/python -m ipykernel install --user --name proj --display-name 'Python (proj)'")
    assert "proj" in c.ssh("jupyter kernelspec list").stdout
    (cell,) = run_cells(
        c, ["import projpkg, sys, torch; print(projpkg.WHERE, sys.executable, torch.__version__)"], "proj"
    )
    assert cell.split() == ["project", "venv", "/home/dev/venvs/proj/bin/python", "2.8.0+cu128"], cell
    assert _venv_changes(c) == ""
