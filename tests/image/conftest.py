"""Fixtures for the image tests: a real Docker engine, the real image built once per session, containers.

Everything under tests/image carries the `image` marker; see imagekit.py for the environment variables.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from imagekit import (
    LABEL,
    TAG,
    Container,
    Docker,
    Image,
    build_args,
    ca_for_test,
    docker_cli,
    free_port,
    make_context,
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
    context = make_context(tmp_path_factory.mktemp("build-context"), ca)
    args = [*build_args(), "-t", TAG]
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
