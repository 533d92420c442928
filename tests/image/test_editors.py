"""What editors that work over SSH need from the server (VS Code Remote-SSH, PyCharm's SSH interpreter), probed with
the real OpenSSH client: sftp as dev, non-interactive commands that see the venv and the GPU variables, the tools
VS Code's server installer runs (tar, curl), and a ~/.vscode-server on the home volume. Port forwarding to Jupyter
and TensorBoard: tests/image/test_tensorboard.py::test_ssh_tunnels_to_tensorboard_and_jupyter."""

from __future__ import annotations

import shlex
import subprocess
import uuid

from imagekit import run, tool

ENV = {"CUDA_VISIBLE_DEVICES": "0", "NCCL_DEBUG": "INFO"}
PROBE = (
    "python -c 'import os, sys, summarytool; "
    'print(sys.executable, os.environ.get("CUDA_VISIBLE_DEVICES"), os.environ.get("NVIDIA_VISIBLE_DEVICES"), '
    'os.environ.get("NCCL_DEBUG"), summarytool.__name__)\''
)
EXPECTED = ["/opt/venv/bin/python", "0", "all", "INFO", "summarytool"]


def test_non_interactive_commands_see_the_venv_and_gpu_variables(start):
    c = start(env=ENV)
    # `ssh host cmd` (what PyCharm and scripts run) and `ssh host 'bash -lc ...'` (VS Code's style)
    assert c.ssh(PROBE).stdout.split() == EXPECTED
    assert c.ssh(f"bash -lc {shlex.quote(PROBE)}").stdout.split() == EXPECTED
    assert c.ssh("command -v python summarytool").stdout.split() == [
        "/opt/venv/bin/python",
        "/opt/venv/bin/summarytool",
    ]
    # VS Code's server installer downloads with curl (or wget) and unpacks with tar
    for t in ("tar", "curl"):
        assert c.ssh(f"{t} --version").returncode == 0


def test_sftp_put_and_get_as_dev(start, tmp_path):
    c = start()
    local = tmp_path / "up.txt"
    local.write_text("hello from the editor\n")
    back = tmp_path / "down.txt"
    batch = tmp_path / "batch"
    batch.write_text(f"put {local} /workspace/up.txt\nget /workspace/up.txt {back}\n")
    ssh = c.ssh_args("dev")
    opts = ssh[1:-1]  # the same options, but sftp spells the port -P
    opts[opts.index("-p")] = "-P"
    p = run(
        [tool("sftp"), "-b", str(batch), *opts, ssh[-1]], check=False, timeout=60, stdin=subprocess.DEVNULL
    )
    assert p.returncode == 0, p.stdout + p.stderr
    assert back.read_text() == "hello from the editor\n"
    assert c.exec("stat", "-c", "%U", "/workspace/up.txt").stdout.strip() == "dev"


def test_vscode_server_directory_is_writable_and_kept_on_the_home_volume(start):
    home = f"st-test-home-{uuid.uuid4().hex[:8]}"
    c = start(volumes={home: "/home/dev"})
    c.ssh("mkdir -p ~/.vscode-server/bin/abc && echo installed > ~/.vscode-server/bin/abc/marker")
    c.docker("rm", "-f", c.name)
    again = start(volumes={home: "/home/dev"})
    assert again.ssh("cat ~/.vscode-server/bin/abc/marker").stdout.strip() == "installed"
