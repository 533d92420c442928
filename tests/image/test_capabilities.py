"""The reduced capability set: the real image works end to end with exactly the capabilities that
docker-compose.yml and the Kubernetes Deployment keep (and no-new-privileges), and needs every one of them.

Every container here also gets net.ipv4.ip_unprivileged_port_start=1024: Docker sets it to 0, which hides the
need for NET_BIND_SERVICE; Kubernetes by default leaves it at 1024.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
import uuid

import pytest
import yaml
from imagekit import REPO, Container, http_status, run, tool

sys.path.insert(0, str(REPO / "image"))
import instances  # noqa: E402

# Linux capability numbers (include/uapi/linux/capability.h), for reading /proc/PID/status.
CAP_NUMBERS = {
    name: number
    for number, name in enumerate(
        "CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP LINUX_IMMUTABLE "
        "NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER SYS_MODULE SYS_RAWIO "
        "SYS_CHROOT SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE SYS_RESOURCE SYS_TIME SYS_TTY_CONFIG "
        "MKNOD LEASE AUDIT_WRITE AUDIT_CONTROL SETFCAP MAC_OVERRIDE MAC_ADMIN SYSLOG WAKE_ALARM "
        "BLOCK_SUSPEND AUDIT_READ PERFMON BPF CHECKPOINT_RESTORE".split()
    )
}
DOCKER_DEFAULT = {
    "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
    "NET_BIND_SERVICE", "NET_RAW", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
}  # fmt: skip


def _compose_service() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]["workstation"]


def _k8s_container() -> dict:
    deployment = yaml.safe_load((REPO / "k8s/base/deployment.yaml").read_text())
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container


KEPT = sorted(_compose_service()["cap_add"])


def _names(mask: int) -> set[str]:
    return {name for name, number in CAP_NUMBERS.items() if mask >> number & 1}


def _reduced(extra: list[str] | None = None, without: str | None = None) -> list[str]:
    """`docker run` arguments: the kept set (less `without`), as compose and Kubernetes give it."""
    args = ["--cap-drop", "ALL", "--security-opt", "no-new-privileges:true"]
    args += ["--sysctl", "net.ipv4.ip_unprivileged_port_start=1024"]
    for cap in KEPT:
        if cap != without:
            args += ["--cap-add", cap]
    return args + (extra or [])


# --- the files agree ---------------------------------------------------------------------------------


def test_compose_and_kubernetes_keep_the_same_small_set():
    service = _compose_service()
    assert service["cap_drop"] == ["ALL"]
    assert service["security_opt"] == ["no-new-privileges:true"]
    assert set(KEPT) < DOCKER_DEFAULT and len(KEPT) == len(set(KEPT)) == 7, KEPT
    assert set(KEPT) <= set(CAP_NUMBERS)
    context = _k8s_container()["securityContext"]
    assert context["capabilities"] == {"drop": ["ALL"], "add": KEPT}
    assert context["allowPrivilegeEscalation"] is False and context["runAsUser"] == 0


@pytest.mark.parametrize("gpus", [None, "0,1", "none"])
def test_make_run_compose_files_keep_the_reduced_set(gpus, tmp_path):
    """`make run` = image/instances.py = docker compose with these files: the GPU override and the CPU
    variant must not bring the default capabilities back."""
    files = [REPO / "docker-compose.yml"]
    if gpus == "none":
        files.append(REPO / "docker-compose.cpu.yml")
    elif gpus:
        (tmp_path / "gpus.yml").write_text(instances.gpu_override(instances.parse_gpus(gpus)))
        files.append(tmp_path / "gpus.yml")
    args = [a for f in files for a in ("-f", str(f))]
    proc = run(
        [tool("docker-compose"), "--env-file", "/dev/null", *args, "config", "--format", "json"], cwd=REPO
    )
    service = json.loads(proc.stdout)["services"]["workstation"]
    assert service["cap_drop"] == ["ALL"] and sorted(service["cap_add"]) == KEPT
    assert service["security_opt"] == ["no-new-privileges:true"]


# --- the real image with exactly that set ---------------------------------------------------------------


def test_works_end_to_end_with_only_the_kept_capabilities(start, docker, tmp_path):
    # a host directory owned by someone else: the entrypoint must chown it for the remapped dev
    host_dir = tmp_path / "ws"
    host_dir.mkdir()
    os.chown(host_dir, 5555, 5555)
    home = f"st-test-caps-home-{uuid.uuid4().hex[:8]}"
    c = start(
        env={"NB_UID": "4321", "NB_GID": "4322", "SELFCHECK": "strict", "SELFCHECK_ARGS": "--allow-cpu"},
        volumes={str(host_dir): "/workspace", home: "/home/dev"},
        args=_reduced(),
    )
    # what PID 1 (and so everything root starts) holds: exactly the kept set, no new privileges
    status = dict(ln.split(":\t", 1) for ln in c.exec("cat", "/proc/1/status").stdout.splitlines())
    assert _names(int(status["CapBnd"], 16)) == set(KEPT)
    assert _names(int(status["CapEff"], 16)) == set(KEPT)
    assert status["NoNewPrivs"].strip() == "1"
    # SSH: key login as dev, the remapped ids, the venv and CUDA environment, writable workspace and home
    out = c.ssh(
        "id -u; id -g; echo $VIRTUAL_ENV $NVIDIA_DRIVER_CAPABILITIES; grep CapEff /proc/self/status; "
        "python -c 'import torch; print(torch.__version__)'; touch /workspace/made-here ~/in-home && echo ok"
    ).stdout.split()
    assert out == ["4321", "4322", "/opt/venv", "compute,utility", "CapEff:", "0" * 16, "2.8.0+cu128", "ok"]
    assert (host_dir / "made-here").stat().st_uid == 4321
    assert host_dir.stat().st_uid == 4321 and host_dir.stat().st_gid == 4322
    # an interactive login (a pty: sshd records the login, which needs AUDIT_WRITE)
    pty = c.ssh("id -un; tty", "dev", "-tt")
    assert pty.stdout.replace("\r", "").split()[:2] == ["dev", "/dev/pts/0"], pty.stderr
    # Jupyter serves as dev, with the token only
    assert http_status(c.http_port, "/api/status", c.token) == 200
    assert http_status(c.http_port, "/api/status") == 403
    jupyter = c.exec("ps", "-C", "jupyter-lab", "-o", "user=").stdout.split()
    assert jupyter == ["dev"]
    # the strict self-check ran (as dev) and passed, or the container would not be up
    log = c.logs()
    assert "summarytool selfcheck --allow-cpu" in log and "not permitted" not in log
    # dropped capabilities are really gone, for root too: MKNOD, NET_RAW (Docker's default set has them)
    # and SYS_ADMIN
    for denied in (
        ["mknod", "/tmp/null", "c", "1", "3"],
        ["python3", "-c", "import socket; socket.socket(socket.AF_INET, socket.SOCK_RAW, 1)"],
        ["mount", "-t", "tmpfs", "none", "/mnt"],
    ):
        proc = c.exec(*denied, check=False)
        denial = re.search("not permitted|permission denied", proc.stderr + proc.stdout, re.I)
        assert proc.returncode != 0 and denial, (denied, proc)
    # KILL: docker stop reaches dev's JupyterLab through tini and the container ends by itself
    t0 = time.monotonic()
    docker("stop", "-t", "10", c.name, timeout=30)
    assert time.monotonic() - t0 < 10 and c.inspect()["State"]["ExitCode"] != 137

    # re-created on the same volumes (an image update): dev starts at 1000 again, the home already has a
    # private ~/.ssh of 4321's, which root may not enter; the 0700 workspace is dev's too
    host_dir.chmod(0o700)
    again = start(
        env={"NB_UID": "4321", "NB_GID": "4322"},
        volumes={str(host_dir): "/workspace", home: "/home/dev"},
        args=_reduced(),
    )
    out = again.ssh("id -u; stat -c %u:%g:%a ~ ~/.ssh ~/.ssh/authorized_keys ~/in-home; pwd; ls /workspace")
    assert out.stdout.split() == [
        "4321", "4321:4322:755", "4321:4322:700", "4321:4322:600", "4321:4322:644", "/home/dev",
        "made-here", "notebooks",
    ]  # fmt: skip
    assert http_status(again.http_port, "/api/status", again.token) == 200
    log = again.logs()
    assert "user dev is now uid 4321 gid 4322" in log and "installed 1 authorized key(s)" in log, log
    assert "warning" not in log and "not permitted" not in log, log


# --- and needs each of them -------------------------------------------------------------------------------


def _wait_exit(c: Container, timeout: float = 90) -> int:
    deadline = time.monotonic() + timeout
    while (state := c.inspect()["State"])["Running"]:
        assert time.monotonic() < deadline, f"still running without the capability:\n{c.logs()[-3000:]}"
        time.sleep(0.5)
    return state["ExitCode"]


# what goes wrong without each one, and where the entrypoint or sshd says so
ENTRYPOINT_STOPS = {
    "CHOWN": "chown: changing ownership of '/home/dev': Operation not permitted",  # NB_UID's remap
    "SETUID": "setpriv: setresuid failed",  # nothing can run as dev
    "SETGID": "setpriv: setresgid failed",
    "NET_BIND_SERVICE": "Bind to port 22 on 0.0.0.0 failed: Permission denied",
}


@pytest.mark.parametrize("cap", KEPT)
def test_every_kept_capability_is_needed(cap, start, docker):
    c = start(env={"NB_UID": "4321"}, args=_reduced(without=cap), ready=False)
    if cap in ENTRYPOINT_STOPS:
        assert _wait_exit(c) != 0
        assert ENTRYPOINT_STOPS[cap] in c.logs(), c.logs()[-3000:]
    elif cap == "SYS_CHROOT":  # sshd's privilege separation: every connection is dropped before auth
        c.wait_ready(sshd=False)
        assert c.ssh("true", check=False).returncode == 255
        assert 'chroot("/run/sshd"): Operation not permitted' in c.logs()
    elif cap == "AUDIT_WRITE":  # a command works, an interactive (pty) login is cut off
        c.wait_ready()
        assert c.ssh("id -un", "dev", "-tt", check=False).returncode == 255
        assert "linux_audit_write_entry failed: Operation not permitted" in c.logs()
    elif cap == "KILL":  # SIGTERM cannot reach dev's JupyterLab: docker stop waits, then SIGKILLs
        c.wait_ready()
        t0 = time.monotonic()
        docker("stop", "-t", "3", c.name, timeout=30)
        assert time.monotonic() - t0 >= 3 and c.inspect()["State"]["ExitCode"] == 137
    else:
        pytest.fail(f"no check for {cap}: say what breaks without it, or drop it")
