"""One server, many teammates, with the real image and engine: `make run NAME=` instances side by side,
loopback-only publishing, the public-binding guard, the taken-port message, `make ps` / `make stop`, TLS."""

from __future__ import annotations

import hashlib
import http.cookiejar
import os
import resource
import shutil
import socket
import ssl
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid

import pytest
from imagekit import REPO, Container, run, tool

HELPER = [sys.executable, str(REPO / "image" / "instances.py")]
# Ranges of their own, so that the tests never take 8888/2222 from someone on the same machine.
RANGES = {"JUPYTER_PORT_RANGE": "18888-18987", "SSH_PORT_RANGE": "12222-12321"}


@pytest.fixture(scope="module")
def server(docker, image, ssh_key, tmp_path_factory):
    """The environment `make` and image/instances.py see on a shared server, and a way to call them."""
    tmp = tmp_path_factory.mktemp("sharing")
    config = tmp / "docker-config"
    (config / "cli-plugins").mkdir(parents=True)
    (config / "cli-plugins" / "docker-compose").symlink_to(tool("docker-compose"))
    bindir = tmp / "bin"
    bindir.mkdir()
    (bindir / "docker").symlink_to(docker.cli)
    # This sandbox may not raise RLIMIT_MEMLOCK (see test_compose_up.py): keep it at the current hard limit.
    _, hard = resource.getrlimit(resource.RLIMIT_MEMLOCK)
    limit = -1 if hard == resource.RLIM_INFINITY else hard
    override = tmp / "memlock.yml"
    override.write_text(
        f"services:\n  workstation:\n    ulimits:\n      memlock: {{soft: {limit}, hard: {limit}}}\n"
    )
    env_file = tmp / "dot-env"
    env_file.write_text("")
    repo, tag = image.tag.rsplit(":", 1)
    drop = (
        "JUPYTER_TOKEN",
        "SSH_AUTHORIZED_KEYS",
        "JUPYTER_PORT",
        "SSH_PORT",
        "BIND_ADDRESS",
        "GPUS",
        "NAME",
    )
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(
        RANGES,
        DOCKER_CONFIG=str(config),
        PATH=f"{bindir}:{env['PATH']}",
        DOCKER="docker",
        IMAGE=repo,
        TAG=tag,
        SELFCHECK="off",
        SHM_SIZE="256mb",
        SSH_AUTHORIZED_KEYS=ssh_key.with_suffix(".pub").read_text(),
    )
    names: list[str] = []

    def helper(*args: str, extra: dict[str, str] | None = None, timeout: float = 180):
        if args[0] == "up":
            names.append(args[args.index("--name") + 1])
            args = (*args, "-f", str(override))
        return subprocess.run(
            [*HELPER, "--env-file", str(env_file), *args],
            env={**env, **(extra or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=REPO,
        )

    def make(*args: str, extra: dict[str, str] | None = None):
        return subprocess.run(
            ["make", "-s", "-C", str(REPO), f"PYTHON={sys.executable}", *args],
            env={**env, **(extra or {})},
            capture_output=True,
            text=True,
            timeout=180,
        )

    yield helper, make, env
    for name in [*names, "carol", "dave"]:
        subprocess.run(
            [
                "docker",
                "compose",
                "-p",
                f"summarytool-{name}",
                "-f",
                str(REPO / "docker-compose.yml"),
                "down",
                "-v",
            ],
            env=env,
            capture_output=True,
            timeout=120,
            cwd=REPO,
        )
    shutil.rmtree(config, ignore_errors=True)


@pytest.fixture(scope="module")
def two(server, docker, ssh_key):
    """alice and bob, each with their own instance; ports left empty, so each gets a free pair."""
    helper, _, env = server
    started = {}
    for name, extra in (("alice", {"CPUS": "1.5", "MEMORY": "1g"}), ("bob", {})):
        token = uuid.uuid4().hex
        up = helper("up", "--name", name, "--gpus", "none", extra={"JUPYTER_TOKEN": token, **extra})
        assert up.returncode == 0, up.stdout + up.stderr
        c = Container(docker, f"summarytool-{name}-workstation-1", 0, 0, token, ssh_key)
        ports = c.inspect()["HostConfig"]["PortBindings"]
        c.http_port, c.ssh_port = int(ports["8888/tcp"][0]["HostPort"]), int(ports["22/tcp"][0]["HostPort"])
        assert f"JupyterLab: http://localhost:{c.http_port}/lab" in up.stdout, up.stdout
        assert f"ssh -p {c.ssh_port} dev@localhost" in up.stdout
        started[name] = c
    for c in started.values():
        c.wait_ready()
    return started


def addresses_besides_loopback() -> list[str]:
    found = set(subprocess.run(["hostname", "-I"], capture_output=True, text=True).stdout.split())
    return [a for a in found if ":" not in a and not a.startswith("127.")] + ["127.0.0.2"]


def connects(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=2):
            return True
    except OSError:
        return False


def test_two_instances_get_their_own_ports_volumes_and_files(two):
    alice, bob = two["alice"], two["bob"]
    assert len({alice.http_port, alice.ssh_port, bob.http_port, bob.ssh_port}) == 4
    assert all(18888 <= c.http_port <= 18987 and 12222 <= c.ssh_port <= 12321 for c in (alice, bob))
    mounts = {n: {m["Destination"]: m["Name"] for m in c.inspect()["Mounts"]} for n, c in two.items()}
    assert mounts["alice"]["/workspace"] == "summarytool-alice_workspace"
    assert mounts["bob"]["/workspace"] == "summarytool-bob_workspace"
    assert not set(mounts["alice"].values()) & set(mounts["bob"].values())
    alice.ssh("echo alice-only > /workspace/secret.txt && echo home > ~/mine.txt")
    assert alice.ssh("cat /workspace/secret.txt").stdout.strip() == "alice-only"
    assert bob.ssh("ls /workspace/secret.txt ~/mine.txt", check=False).returncode != 0
    # per-instance limits and the labels `make ps` reads
    host = alice.inspect()["HostConfig"]
    assert host["NanoCpus"] == 1_500_000_000 and host["Memory"] == 2**30 and host["ShmSize"] == 256 * 2**20
    assert bob.inspect()["HostConfig"]["NanoCpus"] == 0 and bob.inspect()["HostConfig"]["Memory"] == 0
    labels = alice.inspect()["Config"]["Labels"]
    assert labels["io.summarytool.owner"] == "alice" and labels["io.summarytool.gpus"] == "none"


def test_default_binding_is_loopback_only(two):
    # the probe itself: a listener on every interface is reached on those addresses
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        s.listen()
        assert all(connects(a, s.getsockname()[1]) for a in addresses_besides_loopback())
    for c in two.values():
        bindings = c.inspect()["HostConfig"]["PortBindings"]
        assert {b["HostIp"] for hosts in bindings.values() for b in hosts} == {"127.0.0.1"}
        for port in (c.http_port, c.ssh_port):
            assert connects("127.0.0.1", port)
            for address in addresses_besides_loopback():
                assert not connects(address, port), f"{c.name} answers on {address}:{port}"
        assert "ports are public" not in c.logs()


def test_make_ps_lists_every_instance_and_make_stop_stops_one(server, two, docker):
    helper, make, _ = server
    ps = make("ps")
    assert ps.returncode == 0, ps.stderr
    rows = {line.split()[0]: line.split() for line in ps.stdout.splitlines()[1:]}
    assert ps.stdout.splitlines()[0].split() == [
        "OWNER",
        "CONTAINER",
        "JUPYTER",
        "SSH",
        "GPUS",
        "UP",
        "HEALTH",
    ]
    for name, c in two.items():
        owner, container, jupyter, ssh, gpus, up, health = rows[name]
        assert (container, int(jupyter), int(ssh), gpus) == (c.name, c.http_port, c.ssh_port, "none")
        assert up[0].isdigit() and health in ("starting", "healthy")
    port = helper("port", "--name", "bob", "ssh")
    assert port.stdout.strip() == str(two["bob"].ssh_port)
    # running `up` again keeps bob's ports (nothing recreated on other ports)
    again = helper("up", "--name", "bob", "--gpus", "none", extra={"JUPYTER_TOKEN": two["bob"].token})
    assert again.returncode == 0 and f"ssh -p {two['bob'].ssh_port} " in again.stdout, again.stderr
    stop = make("stop", "NAME=bob")
    assert stop.returncode == 0, stop.stderr
    assert (
        docker("ps", "-aq", "--filter", "label=com.docker.compose.project=summarytool-bob").stdout.strip()
        == ""
    )
    assert "bob" not in {line.split()[0] for line in make("ps").stdout.splitlines()[1:]}
    volumes = docker("volume", "ls", "-q").stdout.split()
    assert "summarytool-bob_workspace" in volumes  # `make stop` keeps the volumes


def test_a_taken_port_is_refused_naming_the_container(server, two, docker):
    _, make, _ = server
    alice = two["alice"]
    taken = make("run", "NAME=carol", f"JUPYTER_PORT={alice.http_port}", "GPUS=none")
    assert taken.returncode != 0
    assert (
        f"JUPYTER_PORT={alice.http_port} is taken: container summarytool-alice-workstation-1 (owner alice, running)"
        in taken.stderr
    ), taken.stderr
    # held by a program that is not a container
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        other = make("run", "NAME=carol", f"SSH_PORT={port}", "GPUS=none")
    assert other.returncode != 0 and f"SSH_PORT={port} is taken on 127.0.0.1 by a program" in other.stderr
    # never a half-started container
    left = docker("ps", "-aq", "--filter", "label=com.docker.compose.project=summarytool-carol").stdout
    assert left.strip() == ""


def test_public_binding_needs_a_strong_token_and_keys(docker, image, start):
    proc = docker(
        "run",
        "--rm",
        "-e",
        "BIND_ADDRESS=0.0.0.0",
        "-e",
        "JUPYTER_TOKEN=short-token",
        "-e",
        "SELFCHECK=off",
        image.tag,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 3, proc.stderr
    assert "BIND_ADDRESS=0.0.0.0 publishes the ports beyond this host" in proc.stderr
    assert "at least 32" in proc.stderr and "this one has 11" in proc.stderr
    assert "sshd needs SSH_AUTHORIZED_KEYS" in proc.stderr
    assert "not starting" in proc.stderr
    # a strong token (the fixture's is 32 hex characters) and a key: it starts
    c = start(env={"BIND_ADDRESS": "0.0.0.0"})
    assert "ports are public; token and SSH keys checked" in c.logs()


def test_helper_refuses_public_binding_before_starting(server, docker):
    helper, _, _ = server
    refused = helper(
        "up", "--name", "dave", "--gpus", "none", extra={"BIND_ADDRESS": "0.0.0.0", "JUPYTER_TOKEN": "abc"}
    )
    assert refused.returncode == 2 and "publishes the ports beyond this host" in refused.stderr
    assert "this one has 3" in refused.stderr
    left = docker("ps", "-aq", "--filter", "label=com.docker.compose.project=summarytool-dave").stdout
    assert left.strip() == ""


def _https_login(port: int, password: str) -> int:
    """Log in to Jupyter's /login form over HTTPS (self-signed): the status of the redirect."""
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    jar = http.cookiejar.CookieJar()

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *a, **kw):
            return None

    opener = urllib.request.build_opener(
        urllib.request.HTTPSHandler(context=ctx), urllib.request.HTTPCookieProcessor(jar), NoRedirect
    )
    opener.open(f"https://127.0.0.1:{port}/login", timeout=10).read()
    xsrf = next(c.value for c in jar if c.name == "_xsrf")
    body = urllib.parse.urlencode({"_xsrf": xsrf, "password": password}).encode()
    try:
        return opener.open(f"https://127.0.0.1:{port}/login?next=%2Flab", body, timeout=10).status
    except urllib.error.HTTPError as err:
        return err.code


def test_tls_and_password_hash_on_a_public_binding(start, tmp_path):
    openssl = tool("openssl")
    run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=workstation",
            "-keyout",
            str(tmp_path / "key.pem"),
            "-out",
            str(tmp_path / "cert.pem"),
        ]
    )
    for f in ("key.pem", "cert.pem"):
        (tmp_path / f).chmod(0o644)
    tmp_path.chmod(0o755)
    salt = uuid.uuid4().hex[:12]
    hashed = f"sha1:{salt}:{hashlib.sha1(('s3cret-pw' + salt).encode()).hexdigest()}"
    c = start(
        env={
            "BIND_ADDRESS": "0.0.0.0",
            "JUPYTER_TOKEN": "",  # no token: the password hash is what makes the public binding acceptable
            "JUPYTER_PASSWORD_HASH": hashed,
            "JUPYTER_CERTFILE": "/tls/cert.pem",
            "JUPYTER_KEYFILE": "/tls/key.pem",
        },
        volumes={str(tmp_path): "/tls:ro"},
        ready=False,
    )
    deadline = time.monotonic() + 120
    while c.exec("/usr/local/bin/healthcheck.sh", check=False).returncode != 0:  # it speaks HTTPS now
        assert c.inspect()["State"]["Running"], c.logs()[-3000:]
        assert time.monotonic() < deadline, c.logs()[-3000:]
        time.sleep(1)
    assert "JupyterLab serves HTTPS with /tls/cert.pem" in c.logs()
    assert not connects_plain_http(c.http_port)
    assert _https_login(c.http_port, "wrong") != 302  # the form again, no way in
    assert _https_login(c.http_port, "s3cret-pw") == 302  # logged in, sent on to /lab


def connects_plain_http(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=5) as resp:
            return resp.status < 500
    except urllib.error.HTTPError as err:
        return err.code < 400
    except OSError:
        return False
