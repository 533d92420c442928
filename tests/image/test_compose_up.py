"""`docker compose up` with the CPU variant brings the real image up healthy, with its volumes and limits."""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import time

import pytest
from imagekit import REPO, Container, free_port, http_status, tool


@pytest.fixture
def compose(docker, image, tmp_path):
    binary = tool("docker-compose")
    config = tmp_path / "docker-config"
    (config / "cli-plugins").mkdir(parents=True)
    (config / "cli-plugins" / "docker-compose").symlink_to(binary)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "docker").symlink_to(docker.cli)
    # This sandbox may not raise RLIMIT_MEMLOCK (runc: "operation not permitted"), so the test's own override
    # keeps memlock at the current hard limit, and the health probe runs every 3 s instead of 30 s (same probe).
    _, hard = resource.getrlimit(resource.RLIMIT_MEMLOCK)
    limit = -1 if hard == resource.RLIM_INFINITY else hard
    override = tmp_path / "test-override.yml"
    override.write_text(
        f"services:\n  workstation:\n    ulimits:\n      memlock: {{soft: {limit}, hard: {limit}}}\n"
    )
    project = f"sttest{os.getpid()}"
    env = {**os.environ, "DOCKER_CONFIG": str(config), "PATH": f"{bindir}:{os.environ['PATH']}"}
    repo, tag = image.tag.rsplit(":", 1)
    env.update(
        IMAGE=repo,
        TAG=tag,
        JUPYTER_PORT=str(free_port()),
        SSH_PORT=str(free_port()),
        JUPYTER_TOKEN="compose-token-1234",
        NB_UID="1000",
        NB_GID="1000",
        SHM_SIZE="256mb",
    )
    base = [
        "docker",
        "compose",
        "-p",
        project,
        "--env-file",
        "/dev/null",
        "-f",
        str(REPO / "docker-compose.yml"),
        "-f",
        str(REPO / "docker-compose.cpu.yml"),
        "-f",
        str(override),
    ]

    def run(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*base, *args], env=env, capture_output=True, text=True, timeout=timeout, cwd=REPO
        )

    yield run, env, project
    run("down", "-v", "--timeout", "10")
    shutil.rmtree(config, ignore_errors=True)


def test_compose_cpu_variant_comes_up_healthy(compose, docker, ssh_key):
    run, env, project = compose
    env["SSH_AUTHORIZED_KEYS"] = ssh_key.with_suffix(".pub").read_text()
    up = run("up", "-d", "--no-build")
    assert up.returncode == 0, up.stderr
    name = f"{project}-workstation-1"
    c = Container(docker, name, int(env["SSH_PORT"]), int(env["JUPYTER_PORT"]), env["JUPYTER_TOKEN"], ssh_key)
    c.wait_ready()
    deadline = time.monotonic() + 60
    while (status := c.inspect()["State"]["Health"]["Status"]) != "healthy":
        assert time.monotonic() < deadline, status
        time.sleep(2)
    assert c.inspect()["Config"]["Healthcheck"]["Test"] == ["CMD", "/usr/local/bin/healthcheck.sh"]
    host = c.inspect()["HostConfig"]
    assert host["ShmSize"] == 256 * 2**20 and host["RestartPolicy"]["Name"] == "unless-stopped"
    mounts = {m["Destination"]: m["Name"] for m in c.inspect()["Mounts"]}
    assert mounts == {
        "/workspace": f"{project}_workspace",
        "/home/dev": f"{project}_home",
        "/var/lib/sshd-keys": f"{project}_sshd-keys",
    }
    assert http_status(c.http_port, "/api/status") == 403
    # the CPU variant: the self-check accepts the missing GPU, so the log says no problem was reported
    log = c.logs()
    assert "summarytool selfcheck --allow-cpu" in log and "self-check reported problems" not in log
    assert c.ssh("df --output=size -B1M /dev/shm | tail -1").stdout.strip() == "256"
