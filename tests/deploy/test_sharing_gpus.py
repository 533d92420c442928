"""GPUS=auto for `make run` (image/instances.py), in-process: NVML faked at the pynvml boundary (FakeNvml, as the
self-check tests do) and the engine faked at the docker CLI boundary (the `ps`/`inspect` answers and the
environment `docker compose up` gets, which becomes the container's io.summarytool.gpus label)."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest
from fake_nvml import FakeGpu, FakeNvml
from test_sharing_instances import container

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "image"))
import instances  # noqa: E402

FOUR = tuple(FakeGpu() for _ in range(4))
TWO = FOUR[:2]


class FakeEngine:
    """The docker CLI as instances.py calls it: `ps -a -q`, `inspect`, and `compose ... up -d`, which creates a
    running container labelled as docker-compose.yml labels it (OWNER, GPUS from the environment)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.containers: dict[str, dict] = {}
        self.ups: list[dict[str, str]] = []
        monkeypatch.setattr(instances, "docker", self.docker)
        monkeypatch.setattr(instances.subprocess, "run", self.run)

    def docker(self, args: list[str], cli: str) -> str:
        if args[:1] == ["ps"]:
            return "\n".join(self.containers)
        if args[:1] == ["inspect"]:
            return json.dumps([self.containers[i] for i in args[1:]])
        raise AssertionError(args)

    def run(self, cmd, env=None, cwd=None, check=False, **kw):
        assert cmd[1] == "compose", cmd
        project = cmd[cmd.index("-p") + 1]
        if "up" in cmd:
            self.ups.append(env)
            n = len(self.containers)
            c = container(
                f"{project}-workstation-1",
                project,
                env["OWNER"],
                {"8888/tcp": int(env["JUPYTER_PORT"]), "22/tcp": int(env["SSH_PORT"])},
                gpus=env["GPUS"],
            )
            self.containers[f"id{n}"] = c
            self.files = [cmd[i + 1] for i, a in enumerate(cmd) if a == "-f"]
            self.override = Path(self.files[1]).read_text() if len(self.files) > 1 else ""
        return subprocess.CompletedProcess(cmd, 0)

    def up(self, name: str, gpus: str = "", cfg: dict[str, str] | None = None) -> str:
        args = argparse.Namespace(name=name, gpus=gpus, file=[], compose_args=[])
        assert instances.cmd_up(args, cfg or {}, "docker") == 0
        return self.ups[-1]["GPUS"]


@pytest.fixture
def engine(monkeypatch):
    monkeypatch.setattr(instances, "bindable", lambda port, address: True)
    monkeypatch.setattr(instances, "choose_ports", _ports)
    return FakeEngine(monkeypatch)


def _ports(cfg, project, found, is_free=None):
    n = len(found)
    return 8888 + n, 2222 + n


def test_two_instances_get_different_gpus_and_a_third_wraps_with_a_warning(monkeypatch, engine, capsys):
    FakeNvml(monkeypatch, gpus=TWO)
    assert engine.up("alice", "auto") == "0"
    assert 'device_ids: ["0"]' in engine.override
    assert engine.up("bob", "auto") == "1"
    assert "warning" not in capsys.readouterr().err
    assert engine.up("carol", "auto") == "0"  # round-robin: back to the first, and said so
    err = capsys.readouterr().err
    assert "warning: all 2 GPUs are taken" in err and "GPU 0 with alice" in err
    assert engine.up("dave", "auto") == "1"
    assert "GPU 1 with bob" in capsys.readouterr().err


def test_auto_is_the_default_with_more_than_one_gpu_all_with_one_none_with_none(monkeypatch, engine):
    FakeNvml(monkeypatch, gpus=FOUR)
    assert engine.up("alice") == "0"
    assert engine.up("bob") == "1"
    FakeNvml(monkeypatch, gpus=TWO[:1])
    assert engine.up("carol") == "all"
    FakeNvml(monkeypatch, init_error=12)  # no driver: NVMLError(LIBRARY_NOT_FOUND)
    assert engine.up("dave") == "none"
    assert engine.files[1].endswith("docker-compose.cpu.yml")


def test_the_labels_are_what_make_ps_shows(monkeypatch, engine):
    FakeNvml(monkeypatch, gpus=FOUR)
    engine.up("alice", "auto:2")
    engine.up("bob", "2")  # chosen by hand: auto avoids it too
    engine.up("carol", "auto")
    rows = {r[0]: r[4] for r in instances.instance_rows(list(engine.containers.values()), _now())}
    assert rows == {"alice": "0,1", "bob": "2", "carol": "3"}


def test_only_running_instances_hold_gpus_and_all_holds_every_gpu():
    host = ["0", "1", "2"]
    stopped = container("summarytool-x-workstation-1", "summarytool-x", "x", {}, running=False, gpus="0")
    everything = container("summarytool-y-workstation-1", "summarytool-y", "y", {}, gpus="all")
    cpu = container("summarytool-z-workstation-1", "summarytool-z", "z", {}, gpus="none")
    held = instances.held_gpus([stopped, cpu], "summarytool-new", host)
    assert held == {"0": [], "1": [], "2": []}
    held = instances.held_gpus([stopped, everything], "summarytool-new", host)
    assert held == {"0": ["y"], "1": ["y"], "2": ["y"]}
    chosen, warning = instances.assign_gpus(1, host, held)
    assert chosen == ["0"] and "sharing GPU 0 with y" in warning


def test_wrap_around_takes_the_least_shared_gpus():
    held = {"0": ["a", "c"], "1": ["b"], "2": ["d"], "3": ["e", "f"]}
    assert instances.assign_gpus(1, list(held), held)[0] == ["1"]
    assert instances.assign_gpus(2, list(held), held)[0] == ["1", "2"]
    assert instances.assign_gpus(9, list(held), held)[0] == ["0", "1", "2", "3"]


def test_running_up_again_keeps_the_instances_gpus(monkeypatch, engine):
    FakeNvml(monkeypatch, gpus=FOUR)
    engine.up("alice", "auto")
    engine.up("bob", "auto")
    key = next(k for k, c in engine.containers.items() if c["Name"].endswith("bob-workstation-1"))
    engine.containers.pop(key)  # bob's container is replaced by compose: it keeps GPU 1 ...
    bob = container("summarytool-bob-workstation-1", "summarytool-bob", "bob", {}, gpus="1")
    engine.containers["bob"] = bob
    assert engine.up("bob", "auto") == "1"  # ... not the free GPU 2


def test_gpu_list_falls_back_to_nvidia_smi(monkeypatch):
    monkeypatch.setattr(
        instances.subprocess,
        "run",
        lambda *a, **k: subprocess.CompletedProcess(
            a, 0, stdout="GPU 0: NVIDIA A100 (UUID: GPU-aa)\nGPU 1: NVIDIA A100 (UUID: GPU-bb)\n"
        ),
    )
    assert instances.host_gpus(nvml_gpus=lambda: None) == ["0", "1"]
    monkeypatch.setattr(instances.subprocess, "run", _no_smi)
    assert instances.host_gpus(nvml_gpus=lambda: None) == []


def _no_smi(*a, **k):
    raise FileNotFoundError("nvidia-smi")


def test_auto_requests_are_checked():
    assert instances.parse_auto("auto") == 1 and instances.parse_auto("auto:3") == 3
    assert instances.parse_auto("all") is None and instances.parse_auto("0,1") is None
    with pytest.raises(instances.Refused, match="N >= 1"):
        instances.parse_auto("auto:0")
    with pytest.raises(instances.Refused, match="expected auto"):
        instances.parse_gpus("autox")


def _now():
    import datetime as dt

    return dt.datetime(2026, 11, 22, 12, 30, tzinfo=dt.timezone.utc)
