"""A real JupyterHub on the host (hub/jupyterhub_config.py itself, DockerSpawner against the test engine,
configurable-http-proxy, jupyterhub-idle-culler as a hub service) with JupyterHub's dummy authenticator: two
users log in through the hub's REST API, each gets this image as a server of their own (own container, own
volumes, running as dev, the self-check in its log) reached through the hub's proxy with the user's token; the
limits and the GPU label reach the containers; the idle culler stops the idle servers and the volumes stay.

Only the ports, the authenticator and the proxy's API address come from the command line; everything else is
the documented config, set through its HUB_* variables."""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
from imagekit import REPO, free_port, unavailable

PASSWORD = uuid.uuid4().hex
MEMLOCK = resource.getrlimit(resource.RLIMIT_MEMLOCK)[1]
CULL_TIMEOUT = 75  # seconds: long enough for both spawns and checks, short enough for a quick test


def api(port: int, path: str, token: str | None = None, method: str = "GET", body=None) -> tuple[int, object]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"token {token}"
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            text = r.read().decode()
            return r.status, json.loads(text) if text.strip() else None
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()[:500]
    except OSError as err:
        return 0, str(err)


def jupyterhub_bin() -> str:
    path = shutil.which("jupyterhub", path=os.path.dirname(sys.executable)) or shutil.which("jupyterhub")
    if path is None:
        unavailable("jupyterhub is not installed (pip install -e '.[test]')")
    try:
        import dockerspawner  # noqa: F401
        import jupyterhub_idle_culler  # noqa: F401
    except ImportError as err:
        unavailable(f"{err.name} is not installed (pip install -e '.[test]')")
    if shutil.which("configurable-http-proxy") is None:
        unavailable("configurable-http-proxy is not on PATH (image/ci-prepare.sh installs it)")
    return path


@pytest.fixture
def hub(docker, image, tmp_path: Path):
    exe = jupyterhub_bin()
    suffix = uuid.uuid4().hex[:6]
    network = f"st-hubtest-{suffix}"
    docker("network", "create", "--label", "io.summarytool.test=1", network)
    gateway = docker(
        "network", "inspect", network, "--format", "{{(index .IPAM.Config 0).Gateway}}"
    ).stdout.strip()
    users = [f"alice{suffix}", f"bob{suffix}"]
    proxy, hub_port, proxy_api = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "HUB_IMAGE": image.tag,
        "HUB_NETWORK": network,
        "HUB_CONNECT_IP": gateway,  # the containers reach the hub on the host through the bridge's gateway
        "HUB_AUTHENTICATOR": "dummy",
        "HUB_ADMINS": f"admin{suffix}",
        "HUB_ALLOW_ALL": "1",  # anyone the (dummy) authenticator lets in
        "HUB_MEM_LIMIT": "2G",
        "HUB_CPU_LIMIT": "1.5",
        "HUB_SHM_SIZE": "256m",
        # this engine may not raise limits above its own (the compose tests do the same)
        "HUB_MEMLOCK": str(MEMLOCK),
        "HUB_SELFCHECK_ARGS": "--allow-cpu",
        "HUB_CULL_TIMEOUT": str(CULL_TIMEOUT),
        "HUB_CULL_EVERY": "5",
        "DOCKER": docker.cli,  # the GPU hook reads the other instances' labels through this CLI
        # Debian's proxy finds its modules there; a Node.js not from Debian does not look there itself.
        "NODE_PATH": os.pathsep.join(p for p in (os.environ.get("NODE_PATH"), "/usr/share/nodejs") if p),
    }
    env.pop("HUB_GPUS", None)  # the default, auto: on this GPU-less host it resolves to none
    log = (tmp_path / "hub.log").open("w")
    proc = subprocess.Popen(
        [
            exe,
            "-f",
            str(REPO / "hub" / "jupyterhub_config.py"),
            "--ip=127.0.0.1",
            f"--port={proxy}",
            f"--JupyterHub.hub_port={hub_port}",
            f"--ConfigurableHTTPProxy.api_url=http://127.0.0.1:{proxy_api}",
            f"--DummyAuthenticator.password={PASSWORD}",
        ],
        cwd=tmp_path,  # the hub's sqlite database and cookie secret
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )

    def hub_log() -> str:
        return (tmp_path / "hub.log").read_text(errors="replace")[-6000:]

    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and proc.poll() is None:
        if api(proxy, "/hub/api/")[0] == 200:
            break
        time.sleep(0.5)
    try:
        assert api(proxy, "/hub/api/")[0] == 200, f"the hub did not come up:\n{hub_log()}"
        yield {"port": proxy, "users": users, "admin": f"admin{suffix}", "log": hub_log, "network": network}
    finally:
        if proc.poll() is None:
            os.killpg(
                proc.pid, signal.SIGTERM
            )  # the hub stops its servers (cleanup_servers) and its services
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()
        for u in users:
            docker("rm", "-f", f"summarytool-hub-{u}", check=False)
            for v in ("workspace", "home", "sshd-keys"):
                docker("volume", "rm", "-f", f"summarytool-hub-{u}-{v}", check=False)
        docker("network", "rm", network, check=False)


def wait_for(what: str, check, timeout: float, details) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(1)
    raise AssertionError(f"{what} (waited {timeout:.0f} s)\n{details()}")


def test_two_users_through_a_real_hub_and_the_culler(hub, docker, image):
    port, users, log = hub["port"], hub["users"], hub["log"]
    # A login through the REST API: the admin's username and password for a token...
    status, body = api(
        port,
        f"/hub/api/users/{hub['admin']}/tokens",
        method="POST",
        body={"auth": {"username": hub["admin"], "password": PASSWORD}, "note": "test"},
    )
    assert status in (200, 201), f"admin login refused: {status} {body}\n{log()}"
    admin = body["token"]
    # ...a wrong password gets none
    status, _ = api(
        port,
        f"/hub/api/users/{hub['admin']}/tokens",
        method="POST",
        body={"auth": {"username": hub["admin"], "password": "wrong"}},
    )
    assert status == 403
    tokens = {}
    for u in users:
        status, body = api(port, f"/hub/api/users/{u}", admin, "POST")
        assert status == 201, f"creating {u}: {status} {body}"
        status, body = api(port, f"/hub/api/users/{u}/tokens", admin, "POST", {"note": "test"})
        assert status in (200, 201), f"a token for {u}: {status} {body}"
        tokens[u] = body["token"]

    def ready(u):
        status, body = api(port, f"/hub/api/users/{u}", tokens[u])
        assert status == 200, f"{u}: {status} {body}"
        server = body["servers"].get("")
        assert server is not None, f"{u}'s server failed to start:\n{log()}"
        return server.get("ready")

    containers = {}
    for u in users:  # one after the other: each user starts their own server with their own token
        status, body = api(port, f"/hub/api/users/{u}/server", tokens[u], "POST")
        assert status in (201, 202), f"starting {u}'s server: {status} {body}\n{log()}"
        wait_for(f"{u}'s server never became ready", lambda u=u: ready(u), 200, log)
        # The user's own server through the hub's proxy, with the user's token
        status, body = api(port, f"/user/{u}/api/status", tokens[u])
        assert status == 200, f"/user/{u}/api/status through the proxy: {status} {body}\n{log()}"
        other = users[1 - users.index(u)]
        status, _ = api(port, f"/user/{other}/api/status", tokens[u])
        assert status != 200, f"{u}'s token opened {other}'s server"
        info = json.loads(docker("inspect", f"summarytool-hub-{u}").stdout)[0]
        containers[u] = info
        assert info["Config"]["Image"] == image.tag
        host = info["HostConfig"]
        assert host["Memory"] == 2 * 1024**3, host["Memory"]
        assert host["CpuQuota"] / host["CpuPeriod"] == 1.5, (host["CpuQuota"], host["CpuPeriod"])
        assert host["ShmSize"] == 256 * 1024**2
        assert {"Name": "memlock", "Soft": MEMLOCK, "Hard": MEMLOCK} in host["Ulimits"]
        assert host["CapDrop"] == ["ALL"] and "no-new-privileges:true" in host["SecurityOpt"]
        assert not host.get("DeviceRequests"), host.get("DeviceRequests")  # auto on a host without GPUs
        labels = info["Config"]["Labels"]
        assert labels["io.summarytool.owner"] == u and labels["io.summarytool.gpus"] == "none", labels
        mounts = {m["Destination"]: m.get("Name") for m in info["Mounts"]}
        assert mounts["/workspace"] == f"summarytool-hub-{u}-workspace", mounts
        assert mounts["/home/dev"] == f"summarytool-hub-{u}-home", mounts
        ps = docker("exec", f"summarytool-hub-{u}", "ps", "-eo", "user:12,args").stdout
        assert any(
            line.split(None, 1)[0] == "dev" and "jupyterhub-singleuser" in line for line in ps.splitlines()
        ), ps
        logs = docker("logs", f"summarytool-hub-{u}")
        assert "self-check (SELFCHECK=warn)" in logs.stdout + logs.stderr, (logs.stdout + logs.stderr)[-3000:]
        # A file written as dev lands in the user's own volume
        docker("exec", "-u", "dev", f"summarytool-hub-{u}", "sh", "-c", f"echo {u} > /workspace/owner")
    assert containers[users[0]]["Id"] != containers[users[1]]["Id"]  # (the first may be culled by now)
    assert containers[users[0]]["NetworkSettings"]["Networks"].keys() == {hub["network"]}

    # Nobody uses the servers: the culler (a hub service) stops them, the containers go, the volumes stay.
    for u in users:
        wait_for(
            f"the idle culler did not stop {u}'s server",
            lambda u=u: api(port, f"/hub/api/users/{u}", tokens[u])[1]["servers"] == {},
            CULL_TIMEOUT + 90,
            log,
        )
        wait_for(
            f"{u}'s container is still there",
            lambda u=u: docker("inspect", f"summarytool-hub-{u}", check=False).returncode != 0,
            60,
            log,
        )
        kept = docker(
            "run",
            "--rm",
            "-v",
            f"summarytool-hub-{u}-workspace:/w",
            "--entrypoint",
            "cat",
            image.tag,
            "/w/owner",
        ).stdout.strip()
        assert kept == u
    assert "Culling server" in log(), log()
