#!/usr/bin/env python3
"""One workstation instance per teammate on a shared server (`make run NAME=alice`, `make ps`, `make stop`).

Each instance is a compose project `summarytool-<name>`: its own container, volumes and host ports.
  up --name N [--gpus G] [-f extra.yml]   pick or check the ports, then `docker compose up -d`
  down --name N                           stop and remove the container (volumes are kept)
  ps                                      every instance on this server
  port --name N jupyter|ssh               the host port an instance publishes
Settings come from the environment, then from .env (as compose reads them): JUPYTER_PORT, SSH_PORT (empty:
the first free pair of JUPYTER_PORT_RANGE / SSH_PORT_RANGE, default 8888-8987 and 2222-2321, pair i being
(8888+i, 2222+i)), BIND_ADDRESS (default 127.0.0.1), GPUS (auto | auto:N | all | none | 0,1), CPUS, MEMORY,
SHM_SIZE. GPUS empty: auto on a host with more than one GPU, all with one, none with none.
GPUS=auto gives the new instance N (default 1) GPUs that no other running instance holds (read from the
io.summarytool.gpus labels through the docker CLI), the least shared ones with a warning when all are taken.
Standard library only: it runs with the host's python3 (the GPU list comes from summarytool's NVML query when
summarytool and nvidia-ml-py can be imported, else from `nvidia-smi -L`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shlex
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import exposure_check  # (beside this file: the entrypoint's own exposure rule)

REPO = Path(__file__).resolve().parents[1]
PROJECT_PREFIX = "summarytool-"
SERVICE = "workstation"
INSTANCE_LABEL = "io.summarytool.instance"
OWNER_LABEL = "io.summarytool.owner"
GPUS_LABEL = "io.summarytool.gpus"
DEFAULT_RANGES = {"JUPYTER_PORT_RANGE": "8888-8987", "SSH_PORT_RANGE": "2222-2321"}
CONTAINER_PORTS = {"jupyter": "8888/tcp", "ssh": "22/tcp"}


class Refused(Exception):
    """A reason not to start, worded for the person who typed `make run`."""


# ---- settings -----------------------------------------------------------------------------------------------


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines as compose reads .env: comments, blank lines, `export `, single or double quotes."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        key = key.strip().removeprefix("export ").strip()
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        values[key] = value
    return values


def settings(env: dict[str, str], env_file: Path) -> dict[str, str]:
    """The process environment wins over .env, as with compose."""
    return {**read_env_file(env_file), **env}


def project_name(name: str) -> str:
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,40}", name):
        raise Refused(
            f"NAME={name!r}: use lower-case letters, digits, '-' and '_' (it names your compose project, "
            "container and volumes)"
        )
    return PROJECT_PREFIX + name


def port_range(text: str, key: str) -> range:
    m = re.fullmatch(r"\s*(\d+)\s*-\s*(\d+)\s*", text)
    if not m or not 1 <= int(m.group(1)) <= int(m.group(2)) <= 65535:
        raise Refused(f"{key}={text!r}: expected FIRST-LAST, e.g. {DEFAULT_RANGES[key]}")
    return range(int(m.group(1)), int(m.group(2)) + 1)


def parse_gpus(text: str) -> list[str] | None:
    """all -> None (every GPU); none -> []; "0,1" or GPU UUIDs -> the device ids."""
    text = text.strip() or "all"
    if text == "all":
        return None
    if text == "none":
        return []
    ids = [part.strip() for part in text.split(",")]
    if not all(re.fullmatch(r"\d+|GPU-[0-9a-fA-F-]+|MIG-[0-9a-zA-Z/-]+", i) for i in ids):
        raise Refused(f"GPUS={text!r}: expected auto, auto:N, all, none, or device indices / UUIDs like 0,1")
    return ids


def parse_auto(text: str) -> int | None:
    """auto -> 1, auto:N -> N (GPUs wanted); anything else -> None (not an auto request)."""
    m = re.fullmatch(r"\s*auto(?::(\d+))?\s*", text)
    if not m:
        return None
    count = int(m.group(1) or 1)
    if count < 1:
        raise Refused(f"GPUS={text.strip()!r}: auto:N needs N >= 1")
    return count


# ---- GPUs: what the host has, who holds which ---------------------------------------------------------------


def _nvml_gpus() -> list[str] | None:
    """The host's GPU indices from summarytool's NVML query; None when summarytool or pynvml is not importable
    here (the host's python3 may have neither) or NVML failed for another reason than "no driver"."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    try:
        from summarytool.selfcheck import nvml
    except Exception:  # noqa: BLE001  (no summarytool on this python: fall back to nvidia-smi)
        return None
    info = nvml.query()
    if info.available:
        return [str(g.index) for g in info.gpus]
    if info.status in (nvml.STATUS_NO_LIBRARY, nvml.STATUS_NO_DRIVER):
        return []
    return None


def _smi_gpus() -> list[str]:
    """`nvidia-smi -L`: lines like "GPU 0: NVIDIA H100 (UUID: GPU-...)"; no nvidia-smi: no GPU."""
    try:
        out = subprocess.run(
            ["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    return re.findall(r"^GPU (\d+):", out, flags=re.M)


def host_gpus(nvml_gpus=_nvml_gpus, smi_gpus=_smi_gpus) -> list[str]:
    found = nvml_gpus()
    return found if found is not None else smi_gpus()


def held_gpus(containers: list[dict], project: str, host: list[str]) -> dict[str, list[str]]:
    """GPU index -> the owners of the other *running* instances that hold it (their io.summarytool.gpus label;
    "all" holds every GPU, "none" none, ids outside this host's list are ignored)."""
    held: dict[str, list[str]] = {g: [] for g in host}
    for c in containers:
        labels = (c.get("Config") or {}).get("Labels") or {}
        if labels.get(INSTANCE_LABEL) != "1" or not (c.get("State") or {}).get("Running"):
            continue
        if labels.get("com.docker.compose.project") == project:
            continue
        owner = labels.get(OWNER_LABEL) or c.get("Name", "?").lstrip("/")
        value = (labels.get(GPUS_LABEL) or "").strip()
        ids = host if value == "all" else [] if value in ("", "none") else value.split(",")
        for g in ids:
            if g.strip() in held:
                held[g.strip()].append(owner)
    return held


def own_gpus(containers: list[dict], project: str) -> list[str] | None:
    """The GPUs an existing container of this project was given (so `make run` again keeps them)."""
    for c in containers:
        labels = (c.get("Config") or {}).get("Labels") or {}
        if labels.get("com.docker.compose.project") == project and labels.get(INSTANCE_LABEL) == "1":
            value = (labels.get(GPUS_LABEL) or "").strip()
            if re.fullmatch(r"\d+(,\d+)*", value):
                return value.split(",")
    return None


def assign_gpus(
    count: int, host: list[str], held: dict[str, list[str]], keep: list[str] | None = None
) -> tuple[list[str], str | None]:
    """`count` GPUs for a new instance: free ones first (lowest index), then the least shared, round-robin.
    Returns the ids and a warning when any of them is shared with another instance."""
    if not host:
        return [], None
    if keep and all(g in host for g in keep) and len(keep) == min(count, len(host)):
        chosen = keep
    else:
        # fewest holders first, then lowest index: free GPUs, then a wrap-around over the least shared
        order = sorted(host, key=lambda g: (len(held.get(g, [])), int(g)))
        chosen = sorted(order[: min(count, len(host))], key=int)
    shared = {g: held.get(g, []) for g in chosen if held.get(g)}
    warning = None
    if shared:
        who = "; ".join(f"GPU {g} with {', '.join(owners)}" for g, owners in shared.items())
        warning = (
            f"all {len(host)} GPUs are taken by other instances: sharing {who}. Jobs on a shared GPU compete "
            "for its memory and time; `make ps` shows who has which GPU."
        )
    return chosen, warning


def resolve_gpus(
    requested: str, containers: list[dict], project: str, host_list=None
) -> tuple[list[str] | None, str | None]:
    """GPUS as typed (or empty) -> (device ids | None for all | [] for none, a warning or None)."""
    host_list = host_list or host_gpus
    text = requested.strip()
    if not text:
        host = host_list()
        text = "auto" if len(host) > 1 else "all" if len(host) == 1 else "none"
        if text != "auto":
            return parse_gpus(text), None
    else:
        host = None
    count = parse_auto(text)
    if count is None:
        return parse_gpus(text), None
    host = host if host is not None else host_list()
    if not host:
        return [], "GPUS=auto: no GPU found on this host (NVML / nvidia-smi): running on the CPU"
    return assign_gpus(count, host, held_gpus(containers, project, host), own_gpus(containers, project))


def exposure_problems(cfg: dict[str, str]) -> list[str]:
    """What the entrypoint would refuse on a public binding (its own rule), found before anything starts.

    A token file and the keys file are read inside the container; here their being set is enough."""
    bind = cfg.get("BIND_ADDRESS") or "127.0.0.1"
    if not exposure_check.is_public(bind):
        return []
    protected = cfg.get("JUPYTER_TOKEN_FILE") or cfg.get("JUPYTER_PASSWORD_HASH")
    token = None if protected else cfg.get("JUPYTER_TOKEN", "")
    keys = bool(cfg.get("SSH_AUTHORIZED_KEYS", "").strip() or cfg.get("SSH_AUTHORIZED_KEYS_FILE"))
    problems = exposure_check.binding_problems(token, keys)
    return [f"BIND_ADDRESS={bind} publishes the ports beyond this host, and {p}" for p in problems]


# ---- what the engine says -----------------------------------------------------------------------------------


@dataclass
class Published:
    container: str
    owner: str
    project: str
    running: bool
    ports: dict[str, int]  # "8888/tcp" -> host port


def docker(args: list[str], cli: str) -> str:
    proc = subprocess.run([*shlex.split(cli), *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise Refused(f"docker {' '.join(args[:2])} failed: {proc.stderr.strip()}")
    return proc.stdout


def inspect_all(cli: str) -> list[dict]:
    ids = docker(["ps", "-a", "-q", "--no-trunc"], cli).split()
    return json.loads(docker(["inspect", *ids], cli)) if ids else []


def published(containers: list[dict]) -> list[Published]:
    """Host ports each container publishes, or will publish when started (its configured bindings)."""
    out = []
    for c in containers:
        bindings = (c.get("HostConfig") or {}).get("PortBindings") or {}
        ports = {}
        for container_port, hosts in bindings.items():
            for h in hosts or []:
                if str(h.get("HostPort") or "").isdigit():
                    ports[container_port] = int(h["HostPort"])
        labels = (c.get("Config") or {}).get("Labels") or {}
        out.append(
            Published(
                container=c["Name"].lstrip("/"),
                owner=labels.get(OWNER_LABEL, ""),
                project=labels.get("com.docker.compose.project", ""),
                running=bool(c["State"]["Running"]),
                ports=ports,
            )
        )
    return out


def holder(port: int, others: list[Published]) -> Published | None:
    return next((p for p in others if port in p.ports.values()), None)


def bindable(port: int, address: str) -> bool:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        try:
            s.bind((address, port))
        except OSError:
            return False
    return True


def taken_message(key: str, port: int, address: str, by: Published | None) -> str:
    if by is not None:
        who = f"owner {by.owner}, " if by.owner else ""
        state = "running" if by.running else "stopped, but it keeps the port"
        return (
            f"{key}={port} is taken: container {by.container} ({who}{state}) publishes it. "
            f"Choose another {key} (in .env or `make run {key}=...`), or leave it empty to get a free one."
        )
    return (
        f"{key}={port} is taken on {address} by a program on this host that is not a container "
        f"(`ss -ltnp 'sport = :{port}'` shows it). Choose another {key}, or leave it empty to get a free one."
    )


def choose_ports(
    cfg: dict[str, str],
    project: str,
    found: list[Published],
    is_free=bindable,
) -> tuple[int, int]:
    """The instance's (jupyter, ssh) host ports: as set, or kept from its existing container, or the first
    free pair of the ranges. Raises Refused, naming the holder, when a set port is taken."""
    address = cfg.get("BIND_ADDRESS") or "127.0.0.1"
    mine = next((p for p in found if p.project == project), None)
    others = [p for p in found if p.project != project]
    wanted = {}
    for key, service in (("JUPYTER_PORT", "jupyter"), ("SSH_PORT", "ssh")):
        value = cfg.get(key, "").strip()
        if value:
            if not value.isdigit() or not 1 <= int(value) <= 65535:
                raise Refused(f"{key}={value!r}: expected a port number, or empty to pick a free one")
            wanted[key] = int(value)
        elif mine and CONTAINER_PORTS[service] in mine.ports:
            wanted[key] = mine.ports[CONTAINER_PORTS[service]]
    for key, port in wanted.items():
        by = holder(port, others)
        own = mine is not None and mine.running and port in mine.ports.values()
        if by is not None or (not own and not is_free(port, address)):
            raise Refused(taken_message(key, port, address, by))
    if len(wanted) == 2:
        return wanted["JUPYTER_PORT"], wanted["SSH_PORT"]
    ranges = [
        port_range(cfg.get(k) or DEFAULT_RANGES[k], k) for k in ("JUPYTER_PORT_RANGE", "SSH_PORT_RANGE")
    ]
    for jupyter, ssh in zip(*ranges, strict=False):
        jupyter = wanted.get("JUPYTER_PORT", jupyter)
        ssh = wanted.get("SSH_PORT", ssh)
        if jupyter == ssh:
            continue
        if all(
            holder(p, others) is None and is_free(p, address)
            for p in (jupyter, ssh)
            if p not in wanted.values()
        ):
            return jupyter, ssh
    raise Refused(
        f"no free port pair in JUPYTER_PORT_RANGE={ranges[0].start}-{ranges[0].stop - 1} / "
        f"SSH_PORT_RANGE={ranges[1].start}-{ranges[1].stop - 1}: set JUPYTER_PORT and SSH_PORT, or widen a range"
    )


def gpu_override(ids: list[str]) -> str:
    """A compose file that reserves exactly these devices (count and device_ids exclude each other)."""
    quoted = ", ".join(json.dumps(i) for i in ids)
    return (
        "services:\n  workstation:\n    deploy:\n      resources:\n        reservations:\n"
        "          devices: !override\n            - driver: nvidia\n"
        f"              device_ids: [{quoted}]\n              capabilities: [gpu]\n"
    )


# ---- commands -----------------------------------------------------------------------------------------------


def compose_base(cli: str, project: str, files: list[Path]) -> list[str]:
    cmd = [*shlex.split(cli), "compose", "-p", project]
    for f in files:
        cmd += ["-f", str(f)]
    return cmd


def cmd_up(args: argparse.Namespace, cfg: dict[str, str], cli: str) -> int:
    project = project_name(args.name)
    requested = args.gpus or cfg.get("GPUS", "")
    if parse_auto(requested) is None and requested.strip():
        parse_gpus(requested)  # a typo is refused before anything is asked of the engine
    problems = exposure_problems(cfg)
    if problems:
        raise Refused("\n  ".join(["not starting:", *problems]))
    containers = inspect_all(cli)
    gpus, warning = resolve_gpus(requested, containers, project)
    if warning:
        print(f"instances: warning: {warning}", file=sys.stderr)
    jupyter, ssh = choose_ports(cfg, project, published(containers))
    files = [REPO / "docker-compose.yml"]
    with tempfile.TemporaryDirectory(prefix="summarytool-instance-") as tmp:
        if gpus == []:
            files.append(REPO / "docker-compose.cpu.yml")
        elif gpus:
            (Path(tmp) / "gpus.yml").write_text(gpu_override(gpus))
            files.append(Path(tmp) / "gpus.yml")
        files += [Path(f) for f in args.file]
        env = {
            **os.environ,
            **{k: v for k, v in cfg.items() if k not in os.environ},
            "JUPYTER_PORT": str(jupyter),
            "SSH_PORT": str(ssh),
            "BIND_ADDRESS": cfg.get("BIND_ADDRESS") or "127.0.0.1",
            "OWNER": args.name,
            "GPUS": "none" if gpus == [] else ",".join(gpus) if gpus else "all",
        }
        base = compose_base(cli, project, files)
        up = subprocess.run([*base, "up", "-d", *args.compose_args], env=env, cwd=REPO, check=False)
        if up.returncode != 0:
            # never leave a created-but-not-started container behind (volumes are kept)
            subprocess.run([*base, "down", "--timeout", "10"], env=env, cwd=REPO, check=False)
            print(
                f"instances: `docker compose up` failed for {project}; nothing is left running",
                file=sys.stderr,
            )
            return up.returncode
    host = socket.gethostname() if exposure_check.is_public(env["BIND_ADDRESS"]) else "localhost"
    print(f"instance {args.name} (project {project}, GPUs {env['GPUS']}, bound to {env['BIND_ADDRESS']})")
    print(
        f"  JupyterLab: http://{host}:{jupyter}/lab   (token: JUPYTER_TOKEN, or `make logs NAME={args.name}`)"
    )
    print(f"  SSH:        ssh -p {ssh} dev@{host}")
    if host == "localhost":
        print(
            f"  from your laptop: ssh -L {jupyter}:localhost:{jupyter} -L {ssh}:localhost:{ssh} <this server>"
        )
    return 0


def cmd_down(args: argparse.Namespace, cli: str) -> int:
    project = project_name(args.name)
    cmd = [*compose_base(cli, project, [REPO / "docker-compose.yml"]), "down", "--timeout", "10"]
    return subprocess.run(cmd, cwd=REPO, check=False).returncode


def uptime(started: str, now: dt.datetime) -> str:
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)", started or "")
    if not m or started.startswith("0001"):
        return "-"
    seconds = int((now - dt.datetime.fromisoformat(m.group(1) + "+00:00")).total_seconds())
    days, rest = divmod(max(seconds, 0), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days}d{hours}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{seconds:02d}s"


def instance_rows(containers: list[dict], now: dt.datetime) -> list[list[str]]:
    rows = []
    for c in containers:
        labels = (c.get("Config") or {}).get("Labels") or {}
        if labels.get(INSTANCE_LABEL) != "1":
            continue
        state = c["State"]
        pub = published([c])[0].ports
        rows.append(
            [
                labels.get(OWNER_LABEL) or "-",
                c["Name"].lstrip("/"),
                str(pub.get("8888/tcp", "-")),
                str(pub.get("22/tcp", "-")),
                labels.get(GPUS_LABEL) or "-",
                uptime(state.get("StartedAt", ""), now) if state.get("Running") else "-",
                (state.get("Health") or {}).get("Status", "-")
                if state.get("Running")
                else state.get("Status", "-"),
            ]
        )
    return sorted(rows)


def table(rows: list[list[str]]) -> str:
    head = ["OWNER", "CONTAINER", "JUPYTER", "SSH", "GPUS", "UP", "HEALTH"]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    return "\n".join(
        "  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in [head, *rows]
    )


def cmd_ps(cli: str) -> int:
    rows = instance_rows(inspect_all(cli), dt.datetime.now(dt.timezone.utc))
    print(table(rows) if rows else "no workstation instances on this server")
    return 0


def cmd_port(args: argparse.Namespace, cli: str) -> int:
    project = project_name(args.name)
    for p in published(inspect_all(cli)):
        if p.project == project and CONTAINER_PORTS[args.service] in p.ports:
            print(p.ports[CONTAINER_PORTS[args.service]])
            return 0
    raise Refused(f"no instance {args.name} (start it with `make run NAME={args.name}`)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--env-file", type=Path, default=REPO / ".env")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up")
    up.add_argument("--name", required=True)
    up.add_argument(
        "--gpus",
        default="",
        help="auto, auto:N, all, none, or 0,1 (default: GPUS, else auto with >1 GPU, all with 1, none)",
    )
    up.add_argument("-f", "--file", action="append", default=[], help="an extra compose file")
    up.add_argument("compose_args", nargs="*", help="more `docker compose up` arguments (after --)")
    down = sub.add_parser("down")
    down.add_argument("--name", required=True)
    sub.add_parser("ps")
    port = sub.add_parser("port")
    port.add_argument("--name", required=True)
    port.add_argument("service", choices=sorted(CONTAINER_PORTS))
    args = parser.parse_args(argv)
    cli = os.environ.get("DOCKER", "docker")
    try:
        if args.command == "up":
            return cmd_up(args, settings(dict(os.environ), args.env_file), cli)
        if args.command == "down":
            return cmd_down(args, cli)
        if args.command == "port":
            return cmd_port(args, cli)
        return cmd_ps(cli)
    except Refused as exc:
        print(f"instances: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
