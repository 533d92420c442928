"""k8s/: every core object passes `kubernetes-validate --strict`, the PyTorchJob passes our JSON schema,
and the manifests say what the design needs (Recreate, GPU limit, /dev/shm, probes, strict self-check...).

Kustomizations are rendered with `kubectl kustomize` when kubectl is there; without it the plain YAML
files that kustomization.yaml lists are checked instead (the overlay and the Secret generator then skip).
"""

from __future__ import annotations

import base64
import copy
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "k8s"
SCHEMA = K8S / "schemas" / "pytorchjob.schema.json"
PLAIN = ["base", "train-job", "pytorchjob"]  # kustomizations of plain resources only
# The oldest Kubernetes we claim (podFailurePolicy is GA from 1.31) and the newest the validator knows.
VERSIONS = ["1.31.0", None]
KUBECTL = shutil.which("kubectl")
needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason="kubectl (kustomize) is not installed")

Obj = dict[str, Any]


def kustomization(directory: Path) -> Obj:
    return yaml.safe_load((directory / "kustomization.yaml").read_text())


def render(directory: Path) -> list[Obj]:
    """The objects a kustomization produces: `kubectl kustomize`, or the listed files without kubectl."""
    if KUBECTL:
        out = subprocess.run(
            [KUBECTL, "kustomize", str(directory)], capture_output=True, text=True, check=True
        )
        return [d for d in yaml.safe_load_all(out.stdout) if d]
    objects: list[Obj] = []
    for resource in kustomization(directory)["resources"]:
        path = directory / resource
        if path.is_dir():
            objects += render(path)
        else:
            objects += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return objects


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[Obj]]:
    return {name: render(K8S / name) for name in PLAIN}


def one(objects: list[Obj], kind: str, name: str | None = None) -> Obj:
    found = [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    assert len(found) == 1, f"{len(found)} {kind} {name or ''} in {[o['kind'] for o in objects]}"
    return found[0]


def container(pod_spec: Obj, name: str) -> Obj:
    return next(c for c in pod_spec["containers"] if c["name"] == name)


def env_of(c: Obj) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in c.get("env", [])}


def mounts(pod_spec: Obj, c: Obj) -> dict[str, Obj]:
    """mountPath -> the volume mounted there."""
    volumes = {v["name"]: v for v in pod_spec["volumes"]}
    return {m["mountPath"]: volumes[m["name"]] for m in c["volumeMounts"]}


def kubernetes_validate(
    objects: list[Obj], tmp_path: Path, version: str | None
) -> subprocess.CompletedProcess[str]:
    files = []
    for i, obj in enumerate(objects):
        path = tmp_path / f"{i:02d}-{obj['kind'].lower()}.yaml"
        path.write_text(yaml.safe_dump(obj))
        files.append(str(path))
    cmd = [
        sys.executable,
        "-m",
        "kubernetes_validate",
        "--strict",
        *(["-k", version] if version else []),
        *files,
    ]
    return subprocess.run(cmd, capture_output=True, text=True)


def core_objects(objects: list[Obj]) -> list[Obj]:
    """Core objects, plus each PyTorchJob's pod templates wrapped as core PodTemplates."""
    out = [o for o in objects if not o["apiVersion"].startswith("kubeflow.org/")]
    for job in (o for o in objects if o["kind"] == "PyTorchJob"):
        for rtype, spec in job["spec"]["pytorchReplicaSpecs"].items():
            name = f"{job['metadata']['name']}-{rtype.lower()}"
            out.append(
                {
                    "apiVersion": "v1",
                    "kind": "PodTemplate",
                    "metadata": {"name": name},
                    "template": spec["template"],
                }
            )
    return out


# ---- layout ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", PLAIN)
def test_kustomization_lists_every_manifest_in_its_directory(name: str) -> None:
    directory = K8S / name
    listed = set(kustomization(directory)["resources"])
    present = {p.name for p in directory.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == present
    for obj in render(directory):
        assert "namespace" not in obj["metadata"], (
            "namespace-agnostic: the namespace comes from -n or an overlay"
        )


# ---- kubernetes-validate --strict ----------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS, ids=lambda v: v or "latest")
def test_every_core_object_passes_kubernetes_validate_strict(
    rendered: dict[str, list[Obj]], tmp_path: Path, version: str | None
) -> None:
    objects = core_objects([o for objs in rendered.values() for o in objs])
    kinds = sorted({o["kind"] for o in objects})
    assert kinds == ["Deployment", "Job", "PersistentVolumeClaim", "PodTemplate", "Service"]
    result = kubernetes_validate(objects, tmp_path, version)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("passed for resource") == len(objects), result.stdout


def test_kubernetes_validate_strict_rejects_a_misspelt_field(
    rendered: dict[str, list[Obj]], tmp_path: Path
) -> None:
    deployment = copy.deepcopy(one(rendered["base"], "Deployment"))
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["periodSecond"] = 5
    result = kubernetes_validate([deployment], tmp_path, None)
    assert result.returncode != 0 and "periodSecond" in result.stdout + result.stderr


@needs_kubectl
def test_cpu_overlay_renders_valid_objects_without_a_gpu(tmp_path: Path) -> None:
    objects = render(K8S / "overlays" / "cpu")
    assert kubernetes_validate(objects, tmp_path, None).returncode == 0
    for kind in ("Deployment", "Job"):
        pod = one(objects, kind)["spec"]["template"]["spec"]
        c = pod["containers"][0]
        assert "nvidia.com/gpu" not in c["resources"].get("limits", {})
        assert env_of(c)["SELFCHECK_ARGS"] == "--allow-cpu"
    assert "--nproc-per-node=1" in one(objects, "Job")["spec"]["template"]["spec"]["containers"][0]["args"]


@needs_kubectl
def test_credentials_generate_the_secret_the_workstation_mounts(
    tmp_path: Path, rendered: dict[str, list[Obj]]
) -> None:
    directory = tmp_path / "credentials"
    shutil.copytree(K8S / "credentials", directory)
    (directory / "jupyter-token").write_text("0123abcd\n")
    (directory / "authorized_keys").write_text(
        "ssh-ed25519 AAAAC3Nza one@host\nssh-ed25519 AAAAC3Nzb two@host\n"
    )
    secret = one(render(directory), "Secret")
    assert kubernetes_validate([secret], tmp_path, None).returncode == 0
    data = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert data == {
        "jupyter-token": "0123abcd\n",
        "authorized_keys": (directory / "authorized_keys").read_text(),
    }

    pod = one(rendered["base"], "Deployment")["spec"]["template"]["spec"]
    c = container(pod, "workstation")
    volume = mounts(pod, c)["/etc/workstation"]
    assert volume["secret"]["secretName"] == secret["metadata"]["name"]
    env = env_of(c)
    assert {Path(env["JUPYTER_TOKEN_FILE"]).name, Path(env["SSH_AUTHORIZED_KEYS_FILE"]).name} == set(data)
    assert (K8S / "credentials" / ".gitignore").read_text().split() == ["jupyter-token", "authorized_keys"]


@needs_kubectl
def test_an_image_override_reaches_every_container(tmp_path: Path) -> None:
    overlay = tmp_path / "mine"
    overlay.mkdir()
    for name in PLAIN:  # kustomize wants resources below the overlay: link them in
        (overlay / name).symlink_to(K8S / name)
    (overlay / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "resources": PLAIN,
                "images": [
                    {
                        "name": "summarytool-workstation",
                        "newName": "registry.example.com/ml/ws",
                        "newTag": "1.2",
                    }
                ],
            }
        )
    )
    images = []
    for obj in render(overlay):
        spec = obj["spec"]
        templates = (
            [r["template"] for r in spec["pytorchReplicaSpecs"].values()]
            if "pytorchReplicaSpecs" in spec
            else []
        )
        templates += [spec["template"]] if "template" in spec else []
        images += [c["image"] for t in templates for c in t["spec"]["containers"]]
    assert len(images) == 3 and set(images) == {"registry.example.com/ml/ws:1.2"}


# ---- the PyTorchJob against our schema -------------------------------------------------------------------


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    assert "training-operator" in schema["description"], "the schema says where it comes from"
    return jsonschema.Draft202012Validator(schema)


def test_pytorchjob_passes_its_schema(
    rendered: dict[str, list[Obj]], validator: jsonschema.Draft202012Validator
) -> None:
    job = one(rendered["pytorchjob"], "PyTorchJob")
    assert not list(validator.iter_errors(job))


def _rename_container(job: Obj) -> None:
    job["spec"]["pytorchReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][0]["name"] = "trainer"


def _misspell_max_restarts(job: Obj) -> None:
    job["spec"]["elasticPolicy"]["maxRestart"] = job["spec"]["elasticPolicy"].pop("maxRestarts")


def _two_masters(job: Obj) -> None:
    job["spec"]["pytorchReplicaSpecs"]["Master"] = copy.deepcopy(job["spec"]["pytorchReplicaSpecs"]["Worker"])
    job["spec"]["pytorchReplicaSpecs"]["Master"]["replicas"] = 2


def _unknown_replica_type(job: Obj) -> None:
    job["spec"]["pytorchReplicaSpecs"]["Chief"] = job["spec"]["pytorchReplicaSpecs"]["Worker"]


def _both_nproc_settings(job: Obj) -> None:
    job["spec"]["elasticPolicy"]["nProcPerNode"] = 1


def _bad_backend(job: Obj) -> None:
    job["spec"]["elasticPolicy"]["rdzvBackend"] = "static"


def _no_image(job: Obj) -> None:
    del job["spec"]["pytorchReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][0]["image"]


@pytest.mark.parametrize(
    "breakage",
    [
        _rename_container,
        _misspell_max_restarts,
        _two_masters,
        _unknown_replica_type,
        _both_nproc_settings,
        _bad_backend,
        _no_image,
    ],
    ids=lambda f: f.__name__.lstrip("_"),
)
def test_schema_rejects_what_the_operator_would(
    rendered: dict[str, list[Obj]], validator: jsonschema.Draft202012Validator, breakage: Any
) -> None:
    job = copy.deepcopy(one(rendered["pytorchjob"], "PyTorchJob"))
    breakage(job)
    assert list(validator.iter_errors(job))


# ---- what the design needs ---------------------------------------------------------------------------------


def test_workstation_deployment(rendered: dict[str, list[Obj]]) -> None:
    objects = rendered["base"]
    deployment = one(objects, "Deployment", "workstation")
    assert deployment["spec"]["strategy"] == {"type": "Recreate"} and deployment["spec"]["replicas"] == 1
    pod = deployment["spec"]["template"]["spec"]
    c = container(pod, "workstation")
    assert "command" not in c and "args" not in c, (
        "the image's entrypoint starts the self-check and the services"
    )
    assert c["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert pod["securityContext"]["fsGroup"] == 1000
    assert env_of(c)["NB_UID"] == "1000" and env_of(c)["NB_GID"] == "1000"

    at = mounts(pod, c)
    assert at["/dev/shm"]["emptyDir"]["medium"] == "Memory"
    claims = {p["metadata"]["name"] for p in objects if p["kind"] == "PersistentVolumeClaim"}
    assert {
        at["/workspace"]["persistentVolumeClaim"]["claimName"],
        at["/var/lib/sshd-keys"]["persistentVolumeClaim"]["claimName"],
    } == claims

    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports == {"jupyter": 8888, "ssh": 22}
    assert c["readinessProbe"]["exec"]["command"] == ["/usr/local/bin/healthcheck.sh"]
    assert (ROOT / "image" / "healthcheck.sh").exists(), "the probe runs the image's own health check"
    assert "/api/status" in (ROOT / "image" / "healthcheck.sh").read_text()
    assert ports[c["livenessProbe"]["tcpSocket"]["port"]] == 22
    assert c["startupProbe"]["periodSeconds"] * c["startupProbe"]["failureThreshold"] >= 120

    service = one(objects, "Service", "workstation")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert {p["targetPort"] for p in service["spec"]["ports"]} == set(ports)


def test_train_job_runs_the_example_with_a_strict_self_check(rendered: dict[str, list[Obj]]) -> None:
    objects = rendered["train-job"]
    job = one(objects, "Job", "train")
    pod = job["spec"]["template"]["spec"]
    c = container(pod, "train")
    assert "command" not in c, "command would replace the entrypoint and skip the self-check"
    assert env_of(c)["SELFCHECK"] == "strict"
    assert "/opt/summarytool/examples/train.py" in c["args"] and c["args"][0] == "torchrun"
    ckpt_dir = next(a.split("=", 1)[1] for a in c["args"] if a.startswith("--checkpoint-dir="))
    at = mounts(pod, c)
    volume = next(v for path, v in at.items() if ckpt_dir.startswith(path) and "persistentVolumeClaim" in v)
    assert (
        volume["persistentVolumeClaim"]["claimName"]
        == one(objects, "PersistentVolumeClaim")["metadata"]["name"]
    )
    assert at["/dev/shm"]["emptyDir"]["medium"] == "Memory"
    assert pod["securityContext"]["runAsUser"] == 1000 and pod["securityContext"]["fsGroup"] == 1000
    assert pod["restartPolicy"] == "Never" and job["spec"]["backoffLimit"] >= 1
    assert c["resources"]["limits"]["nvidia.com/gpu"] >= 1


def test_pytorchjob_is_elastic_ddp_with_c10d_and_shared_checkpoints(rendered: dict[str, list[Obj]]) -> None:
    objects = rendered["pytorchjob"]
    job = one(objects, "PyTorchJob")
    policy = job["spec"]["elasticPolicy"]
    assert policy["rdzvBackend"] == "c10d" and policy["maxRestarts"] >= 1
    assert (
        2
        <= policy["minReplicas"]
        <= job["spec"]["pytorchReplicaSpecs"]["Worker"]["replicas"]
        <= policy["maxReplicas"]
    )
    pod = job["spec"]["pytorchReplicaSpecs"]["Worker"]["template"]["spec"]
    c = container(pod, "pytorch")
    assert "command" not in c and c["args"][:2] == ["torchrun", "/opt/summarytool/examples/train.py"]
    assert {p["name"]: p["containerPort"] for p in c["ports"]}["pytorchjob-port"] == policy["rdzvPort"]
    env = env_of(c)
    assert env["SELFCHECK"] == "strict" and env["TORCH_DISABLE_SHARE_RDZV_TCP_STORE"] == "1"
    ckpt_dir = next(a.split("=", 1)[1] for a in c["args"] if a.startswith("--checkpoint-dir="))
    volume = next(v for path, v in mounts(pod, c).items() if ckpt_dir.startswith(path + "/"))
    pvc = one(objects, "PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"])
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"], "rank 0 may be on any node after a restart"
