"""hub/jupyterhub_config.py executed with stub objects (no JupyterHub or DockerSpawner needed), its spawner hook
given GPUs with the engine faked at the docker CLI boundary; hub/z2jh-values.yaml parsed and checked for the keys
the Zero to JupyterHub chart reads."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from test_sharing_culling import FakeConfig
from test_sharing_instances import container

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "hub" / "jupyterhub_config.py"
sys.path.insert(0, str(REPO / "image"))
import instances  # noqa: E402


def load(monkeypatch, **env):
    for k in [k for k in __import__("os").environ if k.startswith("HUB_")]:
        monkeypatch.delenv(k)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    c = FakeConfig()
    exec(compile(CONFIG.read_text(), str(CONFIG), "exec"), {"get_config": lambda: c, "__file__": str(CONFIG)})
    return c


def spawner(c, name):
    ds = c.DockerSpawner
    return SimpleNamespace(
        user=SimpleNamespace(name=name),
        log=logging.getLogger("spawner"),
        extra_host_config=dict(ds.extra_host_config),
        extra_create_kwargs=dict(ds.extra_create_kwargs),
    )


def test_dockerspawner_settings(monkeypatch):
    c = load(monkeypatch, HUB_MEM_LIMIT="32G", HUB_CPU_LIMIT="8", HUB_CULL_TIMEOUT="120")
    ds = c.DockerSpawner
    assert c.JupyterHub.spawner_class == "dockerspawner.DockerSpawner"
    assert ds.cmd == ["jupyterhub-singleuser"] and ds.mem_limit == "32G" and ds.cpu_limit == 8.0
    assert ds.volumes["summarytool-hub-{username}-workspace"] == "/workspace"
    assert ds.volumes["summarytool-hub-{username}-home"] == "/home/dev"
    assert ds.remove is True and ds.network_name == "summarytool-hub"
    (svc,) = c.JupyterHub.services
    assert svc["name"] == "idle-culler" and "jupyterhub_idle_culler" in svc["command"]
    assert "--timeout=120" in svc["command"]
    (role,) = c.JupyterHub.load_roles
    assert role["services"] == ["idle-culler"] and "delete:servers" in role["scopes"]


def test_each_user_gets_a_gpu_and_labels_make_ps_reads(monkeypatch):
    c = load(monkeypatch)
    running: list[dict] = []
    monkeypatch.setattr(instances, "inspect_all", lambda cli: running)
    monkeypatch.setattr(instances, "host_gpus", lambda: ["0", "1"])
    hook = c.DockerSpawner.pre_spawn_hook
    given = []
    for name in ("alice", "bob", "carol"):
        s = spawner(c, name)
        hook(s)
        labels = s.extra_create_kwargs["labels"]
        (req,) = s.extra_host_config["device_requests"]
        assert req["device_ids"] == labels[instances.GPUS_LABEL].split(",")
        given.append(labels[instances.GPUS_LABEL])
        running.append(
            container(
                f"summarytool-hub-{name}",
                labels["com.docker.compose.project"],
                name,
                {},
                gpus=labels[instances.GPUS_LABEL],
            )
        )
    assert given == ["0", "1", "0"]  # the third wraps around
    rows = instances.instance_rows(
        running, __import__("datetime").datetime.now(__import__("datetime").timezone.utc)
    )
    assert [(r[0], r[4]) for r in rows] == [("alice", "0"), ("bob", "1"), ("carol", "0")]


def test_no_gpu_host_and_hub_gpus_none(monkeypatch):
    c = load(monkeypatch, HUB_GPUS="none")
    monkeypatch.setattr(instances, "inspect_all", lambda cli: [])
    s = spawner(c, "alice")
    c.DockerSpawner.pre_spawn_hook(s)
    assert "device_requests" not in s.extra_host_config
    assert s.extra_create_kwargs["labels"][instances.GPUS_LABEL] == "none"


def test_z2jh_values_have_the_keys_the_chart_reads():
    yaml = pytest.importorskip("yaml")
    values = yaml.safe_load((REPO / "hub" / "z2jh-values.yaml").read_text())
    assert set(values) <= {
        "hub",
        "proxy",
        "singleuser",
        "cull",
        "scheduling",
        "prePuller",
        "ingress",
        "debug",
    }
    su = values["singleuser"]
    assert {"name", "tag"} <= set(su["image"]) and su["cmd"] == "jupyterhub-singleuser"
    assert su["storage"]["type"] in ("dynamic", "static", "none")
    assert values["cull"]["enabled"] is True and isinstance(values["cull"]["timeout"], int)
    gpu = [
        p
        for p in su["profileList"]
        if "nvidia.com/gpu" in p.get("kubespawner_override", {}).get("extra_resource_limits", {})
    ]
    assert gpu and all({"display_name", "kubespawner_override"} <= set(p) for p in su["profileList"])
    assert sum(bool(p.get("default")) for p in su["profileList"]) == 1
