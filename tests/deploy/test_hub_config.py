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

REPO = Path(__file__).resolve().parents[2]
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


# The Zero to JupyterHub chart's own values schema ships only inside the Helm chart (no PyPI, npm or Debian
# package carries it), so this schema is written here: the chart's documented structure for the keys
# hub/z2jh-values.yaml uses, with additionalProperties false as the chart's schema has, so a misspelt or
# misplaced key fails. The kubespawner_override entries are checked against the real KubeSpawner below.
_STR_OR_NULL = {"type": ["string", "null"]}
_VOLUMES = {"type": ["array", "object"]}
_QUANTITY = {"type": ["number", "string", "null"]}
Z2JH_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "hub": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"config": {"type": "object"}, "extraConfig": {"type": "object"}},
        },
        "proxy": {"type": "object"},
        "scheduling": {"type": "object"},
        "prePuller": {"type": "object"},
        "ingress": {"type": "object"},
        "debug": {"type": "object"},
        "cull": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "enabled": {"type": "boolean"},
                "users": {"type": "boolean"},
                "adminUsers": {"type": "boolean"},
                "removeNamedServers": {"type": "boolean"},
                "timeout": {"type": "integer", "minimum": 1},
                "every": {"type": "integer", "minimum": 1},
                "concurrency": {"type": "integer"},
                "maxAge": {"type": "integer"},
            },
        },
        "singleuser": {
            "type": "object",
            "additionalProperties": False,
            "required": ["image"],
            "properties": {
                "image": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["name", "tag"],
                    "properties": {
                        "name": {"type": "string", "minLength": 1},
                        "tag": {"type": "string", "minLength": 1},
                        "pullPolicy": {"enum": [None, "IfNotPresent", "Always", "Never"]},
                        "pullSecrets": {"type": "array"},
                    },
                },
                "uid": {"type": ["integer", "null"]},
                "fsGid": {"type": ["integer", "null"]},
                "cmd": {"type": ["string", "array", "null"]},
                "defaultUrl": _STR_OR_NULL,
                "extraEnv": {
                    "type": "object",
                    "additionalProperties": {"type": ["string", "object"]},
                },
                "storage": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "type": {"enum": ["dynamic", "static", "none"]},
                        "capacity": {"type": "string", "pattern": "^[0-9]+(Ki|Mi|Gi|Ti|K|M|G|T)?$"},
                        "homeMountPath": {"type": "string", "pattern": "^/"},
                        "extraVolumes": _VOLUMES,
                        "extraVolumeMounts": _VOLUMES,
                        "dynamic": {"type": "object"},
                        "static": {"type": "object"},
                        "extraLabels": {"type": "object"},
                    },
                },
                "cpu": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"limit": _QUANTITY, "guarantee": _QUANTITY},
                },
                "memory": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"limit": _QUANTITY, "guarantee": _QUANTITY},
                },
                "profileList": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["display_name"],
                        "properties": {
                            "display_name": {"type": "string"},
                            "description": {"type": "string"},
                            "slug": {"type": "string"},
                            "default": {"type": "boolean"},
                            "kubespawner_override": {"type": "object"},
                            "profile_options": {"type": "object"},
                        },
                    },
                },
            },
        },
    },
}


def z2jh_values() -> dict:
    yaml = pytest.importorskip("yaml")
    return yaml.safe_load((REPO / "hub" / "z2jh-values.yaml").read_text())


def test_z2jh_values_match_the_charts_structure():
    jsonschema = pytest.importorskip("jsonschema")
    values = z2jh_values()
    errors = sorted(jsonschema.Draft7Validator(Z2JH_SCHEMA).iter_errors(values), key=str)
    assert not errors, "\n".join(f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in errors)
    su = values["singleuser"]
    assert su["cmd"] == "jupyterhub-singleuser" and values["cull"]["enabled"] is True
    assert sum(bool(p.get("default")) for p in su["profileList"]) == 1
    gpu = [
        p
        for p in su["profileList"]
        if "nvidia.com/gpu" in p["kubespawner_override"].get("extra_resource_limits", {})
    ]
    assert gpu, "no profile asks for a GPU"


def test_z2jh_schema_refuses_a_misspelt_key():
    jsonschema = pytest.importorskip("jsonschema")
    values = z2jh_values()
    values["singleuser"]["storage"]["homeMountpath"] = values["singleuser"]["storage"].pop("homeMountPath")
    values["cull"]["timeout"] = "1h"
    messages = [e.message for e in jsonschema.Draft7Validator(Z2JH_SCHEMA).iter_errors(values)]
    assert any("homeMountpath" in m for m in messages) and any("'1h' is not of type" in m for m in messages)


def test_z2jh_profile_overrides_are_real_kubespawner_settings():
    """Every kubespawner_override key is a KubeSpawner trait, and its value passes that trait's validation
    (the real KubeSpawner from PyPI: a typo such as mem_limits, or a limit like "64 gigs", fails here)."""
    kubespawner = pytest.importorskip("kubespawner")
    from traitlets import HasTraits

    traits = kubespawner.KubeSpawner.class_traits(config=True)
    holder = HasTraits()
    for profile in z2jh_values()["singleuser"]["profileList"]:
        for key, value in profile["kubespawner_override"].items():
            assert key in traits, f"{profile['display_name']}: {key} is not a KubeSpawner setting"
            traits[key].validate(holder, value)
    with pytest.raises(Exception, match="64 gigs"):
        traits["mem_limit"].validate(holder, "64 gigs")
