"""The real image, run for real: SSH with a real client, Jupyter over real HTTP, volumes, signals, exit codes."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from imagekit import TEST_CA_NAME, Container, http_status, run, tool

# --- SSH ---------------------------------------------------------------------------------------------


def test_key_login_as_dev_runs_torch_and_summarytool(start):
    c = start()
    out = c.ssh(
        "id -un; python -c 'import sys, torch, summarytool; "
        "print(sys.executable, torch.__version__, torch.version.cuda, summarytool.__name__)'"
    ).stdout.split()
    assert out == ["dev", "/opt/venv/bin/python", "2.8.0+cu128", "12.8", "summarytool"]
    # summarytool's command line answers in an SSH session too
    assert "selfcheck" in c.ssh("summarytool --help").stdout


def _askpass(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """SSH_ASKPASS that answers the password and records that it was asked."""
    marker = tmp_path / "asked"
    script = tmp_path / "askpass.sh"
    script.write_text(f"#!/bin/sh\necho asked >> {marker}\necho hunter2\n")
    script.chmod(0o755)
    env = {**os.environ, "SSH_ASKPASS": str(script), "SSH_ASKPASS_REQUIRE": "force", "DISPLAY": ":0"}
    return env, marker


@pytest.mark.parametrize("method", ["password", "keyboard-interactive"])
def test_password_and_keyboard_interactive_are_refused(start, tmp_path, method):
    c = start()
    # Give dev a real password: the server must refuse the method, not merely lack a password.
    c.exec("sh", "-c", "echo 'dev:hunter2' | chpasswd")
    env, marker = _askpass(tmp_path)
    proc = run(
        [
            *c.ssh_args(
                "dev",
                "-o",
                "PubkeyAuthentication=no",
                "-o",
                f"PreferredAuthentications={method}",
                "-o",
                "NumberOfPasswordPrompts=1",
            ),
            "true",
        ],
        check=False,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    assert proc.returncode == 255
    assert "Permission denied (publickey)" in proc.stderr  # the only method the server offers
    assert not marker.exists(), "the client was asked for a password: the server offered the method"


def test_root_login_is_refused_even_with_an_authorized_key(start):
    c = start()
    c.exec(
        "sh",
        "-c",
        "install -d -m 700 /root/.ssh && cp /home/dev/.ssh/authorized_keys /root/.ssh/ "
        "&& chmod 600 /root/.ssh/authorized_keys",
    )
    proc = c.ssh("true", "root", check=False)
    assert proc.returncode == 255 and "Permission denied" in proc.stderr
    assert c.ssh("true").returncode == 0  # the same key works for dev


def test_ssh_session_sees_the_container_environment(start):
    c = start(
        env={
            "NCCL_DEBUG": "INFO",
            "HF_HOME": "/workspace/.hf",
            "TORCH_HOME": "/workspace/.torch",
            "CUDA_VISIBLE_DEVICES": "0",
            "NVIDIA_VISIBLE_DEVICES": "all",
        }
    )
    for command in ("env", "bash -lc env"):  # a command over SSH, and a login shell
        env = dict(line.split("=", 1) for line in c.ssh(command).stdout.splitlines() if "=" in line)
        # a login shell also has ~/.local/bin (dev's `pip install`s) first, from ~/.profile
        assert env["PATH"].removeprefix("/home/dev/.local/bin:").startswith("/opt/venv/bin:"), (
            command,
            env["PATH"],
        )
        assert env["VIRTUAL_ENV"] == "/opt/venv"
        assert env["NVIDIA_VISIBLE_DEVICES"] == "all"
        assert env["NVIDIA_DRIVER_CAPABILITIES"] == "compute,utility"
        assert env["NCCL_DEBUG"] == "INFO" and env["CUDA_VISIBLE_DEVICES"] == "0"
        assert env["HF_HOME"] == "/workspace/.hf" and env["TORCH_HOME"] == "/workspace/.torch"
        assert "JUPYTER_TOKEN" not in env and "SSH_AUTHORIZED_KEYS" not in env
    # `ssh host python train.py` finds the venv's python and its torch
    assert c.ssh("python -c 'import torch; print(torch.__file__)'").stdout.startswith("/opt/venv/")


def _host_key(c: Container) -> str:
    out = run([tool("ssh-keyscan"), "-p", str(c.ssh_port), "-t", "ed25519", "127.0.0.1"]).stdout
    (line,) = [ln for ln in out.splitlines() if "ssh-ed25519" in ln]
    return line.split()[-1]


def test_host_key_survives_restart_and_recreate_and_differs_per_volume(start, docker, image):
    volume = f"st-test-keys-{os.getpid()}"
    first = start(volumes={volume: "/var/lib/sshd-keys"})
    key = _host_key(first)
    # the fingerprint printed in the log is the key sshd serves
    fp = run([tool("ssh-keygen"), "-lf", "-"], input=f"[127.0.0.1] ssh-ed25519 {key}\n").stdout.split()[1]
    assert fp in first.logs()
    docker("restart", "-t", "10", first.name)
    first.wait_ready()
    assert _host_key(first) == key
    assert first.logs().count("generated SSH host key /var/lib/sshd-keys/ssh_host_ed25519_key") == 1
    docker("rm", "-f", first.name)
    again = start(volumes={volume: "/var/lib/sshd-keys"})
    assert _host_key(again) == key
    fresh = start()
    assert _host_key(fresh) != key
    # no host key is baked into the image
    baked = docker("run", "--rm", "--entrypoint", "sh", image.tag, "-c", "ls /etc/ssh/ /var/lib/sshd-keys/")
    assert "ssh_host_" not in baked.stdout


# --- Jupyter -----------------------------------------------------------------------------------------


def test_jupyter_needs_the_token(start):
    c = start()
    assert http_status(c.http_port, "/api/status") == 403
    assert http_status(c.http_port, "/api/status", "wrong-token") == 403
    assert http_status(c.http_port, "/api/status", c.token) == 200
    assert http_status(c.http_port, f"/lab?token={c.token}") == 200


def test_token_file_and_random_token(start, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("from-a-file-0123\n")
    c = start(
        env={"JUPYTER_TOKEN": "", "JUPYTER_TOKEN_FILE": "/run/secrets/token"},
        args=["-v", f"{token_file}:/run/secrets/token:ro"],
        ready=False,
    )
    c.token = "from-a-file-0123"
    c.wait_ready()
    assert "from-a-file-0123" not in c.logs()  # a chosen token is not printed
    r = start(env={"JUPYTER_TOKEN": ""}, ready=False)
    deadline = time.monotonic() + 60
    while not (m := re.search(r"Jupyter token \(generated[^)]*\): ([0-9a-f]{48})", r.logs())):
        assert time.monotonic() < deadline, r.logs()
        time.sleep(0.5)
    r.token = m.group(1)
    r.wait_ready()
    assert http_status(r.http_port, "/api/status") == 403


def _processes(c: Container) -> list[tuple[str, str]]:
    out = c.exec("ps", "-eo", "user:20,args", "--no-headers").stdout
    return [tuple(line.strip().split(None, 1)) for line in out.splitlines() if line.strip()]


def test_jupyter_and_ssh_sessions_run_as_dev(start):
    c = start()
    jupyter = [u for u, a in _processes(c) if "jupyter-lab" in a or "jupyter lab" in a]
    assert jupyter and set(jupyter) == {"dev"}
    # a kernel started through the API runs as dev too
    import json
    import urllib.request

    req = urllib.request.Request(
        f"http://127.0.0.1:{c.http_port}/api/kernels",
        data=b"{}",
        method="POST",
        headers={"Authorization": f"token {c.token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert json.load(resp)["id"]
    deadline = time.monotonic() + 30
    while not (kernels := [u for u, a in _processes(c) if "ipykernel" in a]):
        assert time.monotonic() < deadline
        time.sleep(0.5)
    assert set(kernels) == {"dev"}
    assert c.ssh("id -u; ps -o user= -p $$").stdout.split() == ["1000", "dev"]
    # nothing but PID 1, the entrypoint and sshd's listener is root
    root = [a for u, a in _processes(c) if u == "root" and not a.startswith("ps ")]
    assert all(
        re.match(
            r"(/usr/bin/tini|bash /usr/local/bin/entrypoint.sh|/bin/bash /usr/local/bin/entry|"
            r"sshd|/usr/sbin/sshd)",
            a,
        )
        for a in root
    ), root


def test_becomes_healthy_and_the_check_uses_the_token(start, docker, image):
    hc = docker("image", "inspect", image.tag, "--format", "{{json .Config.Healthcheck}}").stdout
    assert "/usr/local/bin/healthcheck.sh" in hc
    c = start(args=["--health-interval", "2s", "--health-start-period", "60s"])
    deadline = time.monotonic() + 60
    while (status := c.inspect()["State"]["Health"]["Status"]) != "healthy":
        assert time.monotonic() < deadline, (status, c.inspect()["State"]["Health"])
        time.sleep(1)
    assert c.exec("/usr/local/bin/healthcheck.sh").returncode == 0
    # with a wrong token the check fails: it really asks the authenticated API
    c.exec("sh", "-c", "echo wrong > /run/workstation/jupyter-token")
    assert c.exec("/usr/local/bin/healthcheck.sh", check=False).returncode != 0


# --- lifecycle ----------------------------------------------------------------------------------------


def test_command_mode_runs_as_dev_and_passes_the_exit_code(docker, image):
    p = docker(
        "run", "--rm", "-e", "SELFCHECK=off", image.tag, "bash", "-c", "id -un; pwd; exit 7", check=False
    )
    assert p.returncode == 7
    assert p.stdout.split() == ["dev", "/workspace"]  # the entrypoint's messages stay on stderr
    ok = docker("run", "--rm", "-e", "SELFCHECK=off", image.tag, "python", "-c", "import torch; print('ok')")
    assert ok.stdout.strip() == "ok"


def test_strict_selfcheck_stops_a_cpu_only_start_unless_cpu_is_allowed(docker, image):
    # what the self-check itself says on this GPU-less machine
    own = docker(
        "run", "--rm", "-e", "SELFCHECK=off", image.tag, "summarytool", "selfcheck", check=False, timeout=180
    )
    assert own.returncode != 0, "expected a FAIL without a GPU"
    p = docker("run", "--rm", "-e", "SELFCHECK=strict", image.tag, "echo", "ran", check=False, timeout=180)
    assert p.returncode == own.returncode and "ran" not in p.stdout
    assert "self-check failed" in p.stderr and "SELFCHECK=strict" in p.stderr
    # warn: the same failure is reported and the command runs
    p = docker("run", "--rm", "-e", "SELFCHECK=warn", image.tag, "echo", "ran", timeout=180)
    assert p.stdout.strip() == "ran" and "going on, SELFCHECK=warn" in p.stderr
    # the CPU-only case: --allow-cpu makes the same machine pass, strict or not
    p = docker(
        "run",
        "--rm",
        "-e",
        "SELFCHECK=strict",
        "-e",
        "SELFCHECK_ARGS=--allow-cpu",
        image.tag,
        "echo",
        "ran",
        timeout=180,
    )
    assert p.stdout.strip() == "ran"
    bad = docker("run", "--rm", "-e", "SELFCHECK=sometimes", image.tag, "true", check=False)
    assert bad.returncode == 2 and "expected warn, strict or off" in bad.stderr


def test_log_holds_the_selfcheck_report_and_the_reference_summary(start):
    c = start(env={"SELFCHECK": "warn"})
    log = c.logs()
    assert "summarytool selfcheck:" in log
    assert "torch 2.8.0+cu128" in log and "cuDNN 9.10.2" in log
    assert "Total params: 205,602,186" in log  # the reference model's summary table
    assert "going on, SELFCHECK=warn" in log or "self-check (SELFCHECK=warn)" in log
    assert "summarytool env --against /opt/summarytool/image.lock" in log


def test_docker_stop_ends_everything_fast(start, docker):
    c = start()
    t0 = time.monotonic()
    docker("stop", "-t", "10", c.name, timeout=30)
    elapsed = time.monotonic() - t0
    assert elapsed < 10, elapsed
    assert c.inspect()["State"]["ExitCode"] != 137  # not killed: it stopped by itself


def test_container_ends_when_a_service_dies(start):
    c = start()
    c.exec("pkill", "-TERM", "-u", "dev", "-f", "jupyter-lab")  # pkill inside the container, by its user
    deadline = time.monotonic() + 20
    while c.inspect()["State"]["Running"]:
        assert time.monotonic() < deadline, c.logs()[-2000:]
        time.sleep(0.5)
    assert "a service ended" in c.logs()


def test_start_flags_select_the_services(start):
    c = start(env={"START_JUPYTER": "0"}, ready=False)
    c.wait_ready(jupyter=False)
    assert http_status(c.http_port, "/api/status", c.token) == 0
    j = start(env={"START_SSHD": "0"}, ready=False)
    j.wait_ready(sshd=False)
    assert j.ssh("true", check=False).returncode == 255


# --- users, volumes, permissions ----------------------------------------------------------------------


def test_workspace_writable_with_a_remapped_uid(docker, image, tmp_path):
    host_dir = tmp_path / "ws"
    host_dir.mkdir()
    os.chown(host_dir, 4321, 4322)
    p = docker(
        "run",
        "--rm",
        "-e",
        "SELFCHECK=off",
        "-e",
        "NB_UID=4321",
        "-e",
        "NB_GID=4322",
        "-v",
        f"{host_dir}:/workspace",
        image.tag,
        "sh",
        "-c",
        "id -u; id -g; touch /workspace/made-here; touch ~/in-home; ls -ln ~/in-home",
    )
    uid, gid, *_ = p.stdout.split()
    assert (uid, gid) == ("4321", "4322")
    st = (host_dir / "made-here").stat()
    assert (st.st_uid, st.st_gid) == (4321, 4322)
    assert "notebooks" in os.listdir(host_dir)  # the example notebooks are copied in on first start
    shutil.rmtree(host_dir)


def test_runs_without_root_as_uid_1000(start, docker, image):
    """Kubernetes with runAsUser: 1000 (or docker run --user 1000:1000): Jupyter and commands, no sshd."""
    c = start(args=["--user", "1000:1000", "--health-interval", "2s"], ready=False)
    c.wait_ready(sshd=False)
    assert "sshd cannot start" in c.logs()
    assert {u for u, a in _processes(c) if "jupyter" in a} == {"dev"}
    deadline = time.monotonic() + 60
    while c.inspect()["State"]["Health"]["Status"] != "healthy":
        assert time.monotonic() < deadline, c.inspect()["State"]["Health"]
        time.sleep(1)
    p = docker(
        "run",
        "--rm",
        "--user",
        "1000:1000",
        "-e",
        "SELFCHECK=off",
        image.tag,
        "sh",
        "-c",
        "id -un; exit 3",
        check=False,
    )
    assert p.returncode == 3 and p.stdout.strip() == "dev"


def test_nb_uid_zero_is_refused(docker, image):
    p = docker("run", "--rm", "-e", "SELFCHECK=off", "-e", "NB_UID=0", image.tag, "id", "-u", check=False)
    assert p.returncode == 2 and "dev is never root" in p.stderr and p.stdout == ""


def test_fresh_named_volumes_are_writable_by_default(start, docker):
    vol = f"st-test-ws-{os.getpid()}"
    c = start(volumes={vol: "/workspace", f"{vol}-home": "/home/dev"})
    assert c.ssh("touch /workspace/x ~/y && echo ok && ls /workspace/notebooks").stdout.split()[0] == "ok"


# --- what is inside ------------------------------------------------------------------------------------


def test_labels_match_what_is_installed(docker, image):
    labels = docker("image", "inspect", image.tag, "--format", "{{json .Config.Labels}}").stdout
    import json

    labels = json.loads(labels)
    p = docker(
        "run",
        "--rm",
        "-e",
        "SELFCHECK=off",
        image.tag,
        "python",
        "-c",
        "import torch; c = torch.backends.cudnn.version(); "
        "print(torch.__version__.split('+')[0], torch.version.cuda, f'{c//10000}.{c//100%100}.{c%100}')",
    )
    torch_v, cuda_v, cudnn_v = p.stdout.split()
    assert labels["io.summarytool.torch.version"] == torch_v == "2.8.0"
    assert labels["io.summarytool.cuda.version"] == cuda_v == "12.8"
    assert labels["io.summarytool.cudnn.version"] == cudnn_v == "9.10.2"
    for key in ("source", "revision", "version", "created"):
        assert f"org.opencontainers.image.{key}" in labels
    assert labels["org.opencontainers.image.revision"] == "test"


def test_venv_matches_the_baked_lock(docker, image):
    p = docker(
        "run",
        "--rm",
        "-e",
        "SELFCHECK=off",
        image.tag,
        "summarytool",
        "env",
        "--against",
        "/opt/summarytool/image.lock",
        check=False,
        timeout=180,
    )
    assert p.returncode == 0, p.stdout + p.stderr


def test_extra_ca_certificates_from_the_build_context_are_trusted(docker, image):
    p = docker(
        "run",
        "--rm",
        "-e",
        "SELFCHECK=off",
        image.tag,
        "sh",
        "-c",
        f"cat /usr/local/share/ca-certificates/extra/{TEST_CA_NAME}; echo ====; "
        "cat /etc/ssl/certs/ca-certificates.crt; echo ====; echo $SSL_CERT_FILE $PIP_CERT",
    )
    cert, bundle, env = p.stdout.split("====\n")
    body = image.ca_pem.decode().strip()
    assert cert.strip() == body
    assert "".join(body.split("\n")[1:-1]) in "".join(bundle.split("\n"))
    assert env.split() == ["/etc/ssl/certs/ca-certificates.crt"] * 2
