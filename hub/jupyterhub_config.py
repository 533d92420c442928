# JupyterHub for a team on one GPU server: DockerSpawner starts this image once per user (README, "Sharing a
# server"). Run the hub on the server (pip install jupyterhub dockerspawner jupyterhub-idle-culler, plus
# configurable-http-proxy from npm) with:   jupyterhub -f hub/jupyterhub_config.py
# Settings, all from the environment:
#   HUB_IMAGE (summarytool-workstation:latest)  HUB_NETWORK (summarytool-hub: a docker network the hub and the
#   users' containers share; create it once: docker network create summarytool-hub)  HUB_GPUS (auto | auto:N |
#   all | none; default auto)  HUB_MEM_LIMIT (e.g. 32G)  HUB_CPU_LIMIT (e.g. 8)  HUB_SHM_SIZE (16g)
#   HUB_MEMLOCK (bytes of locked memory; -1, unlimited, for NCCL)  HUB_START_TIMEOUT (seconds a server may take
#   to answer after its container starts; 120)
#   HUB_CULL_TIMEOUT (seconds idle before the culler stops a server; 3600)  HUB_CULL_EVERY (60)
#   HUB_AUTHENTICATOR (an authenticator class, e.g. oauthenticator.GitHubOAuthenticator; default the system
#   users' PAM login)  HUB_ADMINS (comma separated)  HUB_CONNECT_IP (the hub's address on HUB_NETWORK).
import os
import sys
from pathlib import Path

c = get_config()  # noqa: F821  (provided by JupyterHub when it loads this file)

HERE = Path(__file__).resolve().parent
# The same GPU auto-assignment as `make run` (image/instances.py, standard library only).
sys.path.insert(0, str(HERE.parent / "image"))
import instances  # noqa: E402

env = os.environ.get
network = env("HUB_NETWORK", "summarytool-hub")

c.JupyterHub.spawner_class = "dockerspawner.DockerSpawner"
c.JupyterHub.hub_ip = "0.0.0.0"
if env("HUB_CONNECT_IP"):
    c.JupyterHub.hub_connect_ip = env("HUB_CONNECT_IP")
if env("HUB_AUTHENTICATOR"):
    c.JupyterHub.authenticator_class = env("HUB_AUTHENTICATOR")
c.Authenticator.admin_users = {u for u in env("HUB_ADMINS", "").split(",") if u}
c.Authenticator.allow_all = env("HUB_ALLOW_ALL", "0") == "1"

c.DockerSpawner.image = env("HUB_IMAGE", "summarytool-workstation:latest")
c.DockerSpawner.network_name = network
c.DockerSpawner.use_internal_ip = True
c.DockerSpawner.remove = True  # the container goes when the server stops; the volumes stay
c.DockerSpawner.name_template = "summarytool-hub-{username}"
# The self-check (torch, NVML) runs before jupyterhub-singleuser answers: on a busy server that takes longer than
# the spawner's 30 s default, so give it HUB_START_TIMEOUT seconds (120).
c.DockerSpawner.http_timeout = int(env("HUB_START_TIMEOUT", "120"))
c.DockerSpawner.start_timeout = int(env("HUB_START_TIMEOUT", "120")) + 60
# The image's entrypoint runs (self-check, sshd's environment, dev's ids) and then, seeing JUPYTERHUB_API_TOKEN
# and this command (plus the spawner's --options), jupyterhub-singleuser as dev.
c.DockerSpawner.cmd = ["jupyterhub-singleuser"]
c.DockerSpawner.extra_create_kwargs = {"user": "0"}  # the entrypoint starts as root and drops to dev
# Per-user volumes, kept across restarts of the server and of the hub.
c.DockerSpawner.volumes = {
    "summarytool-hub-{username}-workspace": "/workspace",
    "summarytool-hub-{username}-home": "/home/dev",
    "summarytool-hub-{username}-sshd-keys": "/var/lib/sshd-keys",
}
c.DockerSpawner.environment = {
    "SELFCHECK": env("HUB_SELFCHECK", "warn"),
    "SELFCHECK_ARGS": env("HUB_SELFCHECK_ARGS", ""),
    "START_SSHD": env("HUB_START_SSHD", "0"),  # no port is published; the hub's proxy is the way in
}
if env("HUB_MEM_LIMIT"):
    c.DockerSpawner.mem_limit = env("HUB_MEM_LIMIT")
if env("HUB_CPU_LIMIT"):
    c.DockerSpawner.cpu_limit = float(env("HUB_CPU_LIMIT"))
memlock = int(env("HUB_MEMLOCK", "-1"))  # bytes; -1 unlimited
c.DockerSpawner.extra_host_config = {
    "shm_size": env("HUB_SHM_SIZE", "16g"),
    # NCCL wants unlimited locked memory; an engine that may not raise limits (rootless) needs the host's limit
    "ulimits": [{"Name": "memlock", "Soft": memlock, "Hard": memlock}],
    "cap_drop": ["ALL"],
    "cap_add": ["AUDIT_WRITE", "CHOWN", "KILL", "NET_BIND_SERVICE", "SETGID", "SETUID", "SYS_CHROOT"],
    "security_opt": ["no-new-privileges:true"],
}


def assign_gpus(spawner) -> None:
    """A GPU per user, as `make run GPUS=auto` chooses: one that no running instance (hub-spawned or `make run`)
    holds, round-robin with a warning when all are taken; recorded in the io.summarytool.* labels so `make ps`
    lists hub users too."""
    requested = env("HUB_GPUS", "auto")
    project = f"summarytool-hub-{spawner.user.name}"
    try:
        containers = instances.inspect_all(env("DOCKER", "docker"))
    except instances.Refused as exc:  # no docker CLI next to the hub: nobody else's labels to read
        spawner.log.warning("GPU assignment without the other instances' labels: %s", exc)
        containers = []
    gpus, warning = instances.resolve_gpus(requested, containers, project)
    if warning:
        spawner.log.warning("%s: %s", spawner.user.name, warning)
    host = dict(spawner.extra_host_config)
    label = "all"
    if gpus == []:
        host.pop("device_requests", None)
        label = "none"
    else:
        ids = {"device_ids": gpus} if gpus else {"count": -1}
        host["device_requests"] = [{"Driver": "nvidia", "Capabilities": [["gpu"]], **ids}]
        label = ",".join(gpus) if gpus else "all"
    spawner.extra_host_config = host
    create = dict(spawner.extra_create_kwargs)
    create["labels"] = {
        instances.INSTANCE_LABEL: "1",
        instances.OWNER_LABEL: spawner.user.name,
        instances.GPUS_LABEL: label,
        "com.docker.compose.project": project,
    }
    spawner.extra_create_kwargs = create


c.DockerSpawner.pre_spawn_hook = assign_gpus

# Servers idle longer than HUB_CULL_TIMEOUT are stopped by jupyterhub-idle-culler (a hub-managed service).
c.JupyterHub.load_roles = [
    {
        "name": "idle-culler",
        "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
        "services": ["idle-culler"],
    }
]
c.JupyterHub.services = [
    {
        "name": "idle-culler",
        "command": [
            sys.executable,
            "-m",
            "jupyterhub_idle_culler",
            f"--timeout={int(env('HUB_CULL_TIMEOUT', '3600'))}",
            f"--cull-every={int(env('HUB_CULL_EVERY', '60'))}",
        ],
    }
]
