"""image/instances.py without an engine: settings, port choice, the taken-port message, `make ps` rows."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "image"))
import instances  # noqa: E402

Published, Refused = instances.Published, instances.Refused


def container(
    name, project, owner, ports, running=True, gpus="all", started="2026-11-22T10:00:00.123456789Z"
):
    return {
        "Name": "/" + name,
        "Config": {
            "Labels": {
                "com.docker.compose.project": project,
                instances.INSTANCE_LABEL: "1",
                instances.OWNER_LABEL: owner,
                instances.GPUS_LABEL: gpus,
            }
        },
        "HostConfig": {
            "PortBindings": {k: [{"HostIp": "127.0.0.1", "HostPort": str(v)}] for k, v in ports.items()}
        },
        "State": {
            "Running": running,
            "Status": "running" if running else "exited",
            "StartedAt": started,
            "Health": {"Status": "healthy"},
        },
    }


BOB = container("summarytool-bob-workstation-1", "summarytool-bob", "bob", {"8888/tcp": 8888, "22/tcp": 2222})


def test_env_file_is_read_like_compose(tmp_path):
    f = tmp_path / ".env"
    f.write_text(
        "# c\n\nJUPYTER_PORT=\nexport SSH_PORT=2300\nJUPYTER_TOKEN='a b'\nGPUS=0,1 # mine\nX=\"q\"\n"
    )
    assert instances.read_env_file(f) == {
        "JUPYTER_PORT": "",
        "SSH_PORT": "2300",
        "JUPYTER_TOKEN": "a b",
        "GPUS": "0,1",
        "X": "q",
    }
    assert instances.settings({"SSH_PORT": "2400"}, f)["SSH_PORT"] == "2400"  # the environment wins
    assert instances.read_env_file(tmp_path / "missing") == {}


def test_names_and_gpus_are_checked():
    assert instances.project_name("alice") == "summarytool-alice"
    for bad in ("", "Alice", "a b", "../x", "-x"):
        with pytest.raises(Refused, match="NAME="):
            instances.project_name(bad)
    assert instances.parse_gpus("all") is None and instances.parse_gpus("") is None
    assert instances.parse_gpus("none") == []
    assert instances.parse_gpus("0, 1") == ["0", "1"]
    assert instances.parse_gpus("GPU-1234abcd-00ff") == ["GPU-1234abcd-00ff"]
    with pytest.raises(Refused, match="GPUS="):
        instances.parse_gpus("0;rm")


def test_gpu_override_reserves_exactly_these_devices():
    text = instances.gpu_override(["0", "2"])
    assert "devices: !override" in text and 'device_ids: ["0", "2"]' in text and "count" not in text


def test_public_binding_needs_a_strong_token_and_keys():
    assert instances.exposure_problems({}) == []
    assert instances.exposure_problems({"BIND_ADDRESS": "127.0.0.1", "JUPYTER_TOKEN": "x"}) == []
    weak = instances.exposure_problems({"BIND_ADDRESS": "0.0.0.0", "JUPYTER_TOKEN": "short"})
    assert len(weak) == 2 and "this one has 5" in weak[0] and "SSH_AUTHORIZED_KEYS" in weak[1]
    assert all(p.startswith("BIND_ADDRESS=0.0.0.0 publishes the ports beyond this host") for p in weak)
    strong = {"BIND_ADDRESS": "0.0.0.0", "JUPYTER_TOKEN": "x" * 32, "SSH_AUTHORIZED_KEYS": "ssh-ed25519 AAA"}
    assert instances.exposure_problems(strong) == []
    hashed = {**strong, "JUPYTER_TOKEN": "", "JUPYTER_PASSWORD_HASH": "argon2:$x"}
    assert instances.exposure_problems(hashed) == []
    # A token file is read inside the container (the entrypoint checks its length there).
    assert instances.exposure_problems({**strong, "JUPYTER_TOKEN": "", "JUPYTER_TOKEN_FILE": "/run/t"}) == []


def test_host_and_entrypoint_apply_one_rule():
    import exposure_check

    weak = {"BIND_ADDRESS": "10.0.0.5", "JUPYTER_TOKEN": "x" * 31}
    host = instances.exposure_problems(weak)
    assert [p.split(", and ", 1)[1] for p in host] == exposure_check.binding_problems("x" * 31, False)


def test_first_free_pair_skips_containers_and_busy_ports():
    found = instances.published([BOB])
    busy = {8889}  # a program (not a container) holds 8889

    def free(port, address):
        assert address == "127.0.0.1"
        return port not in busy

    assert instances.choose_ports({}, "summarytool-alice", found, free) == (8890, 2224)
    ranges = {"JUPYTER_PORT_RANGE": "9000-9001", "SSH_PORT_RANGE": "3000-3001"}
    assert instances.choose_ports(ranges, "summarytool-alice", found, free) == (9000, 3000)
    with pytest.raises(Refused, match="no free port pair"):
        instances.choose_ports(ranges, "summarytool-alice", found, lambda p, a: False)


def test_an_existing_instance_keeps_its_ports():
    alice = container(
        "summarytool-alice-workstation-1", "summarytool-alice", "alice", {"8888/tcp": 8895, "22/tcp": 2229}
    )
    found = instances.published([BOB, alice])
    # its own (running) ports are not "taken", even though nothing else could bind them now
    assert instances.choose_ports({}, "summarytool-alice", found, lambda p, a: False) == (8895, 2229)


def test_a_taken_port_names_the_container_that_holds_it():
    found = instances.published(
        [
            container(
                "summarytool-bob-workstation-1", "summarytool-bob", "bob", {"8888/tcp": 8888}, running=False
            )
        ]
    )
    with pytest.raises(Refused) as err:
        instances.choose_ports({"JUPYTER_PORT": "8888"}, "summarytool-alice", found, lambda p, a: True)
    message = str(err.value)
    assert "JUPYTER_PORT=8888 is taken: container summarytool-bob-workstation-1 (owner bob" in message
    assert "stopped, but it keeps the port" in message
    with pytest.raises(Refused, match="not a container"):
        instances.choose_ports({"SSH_PORT": "2222"}, "summarytool-alice", [], lambda p, a: p != 2222)
    with pytest.raises(Refused, match="expected a port number"):
        instances.choose_ports({"SSH_PORT": "ssh"}, "summarytool-alice", [], lambda p, a: True)
    # one port set, the other picked from the range
    assert instances.choose_ports(
        {"JUPYTER_PORT": "9999"}, "summarytool-alice", found, lambda p, a: True
    ) == (9999, 2222)


def test_ps_rows_and_uptime():
    now = dt.datetime(2026, 11, 22, 12, 30, 5, tzinfo=dt.timezone.utc)
    other = {**BOB, "Name": "/not-an-instance", "Config": {"Labels": {}}}
    stopped = container(
        "summarytool-carol-workstation-1", "summarytool-carol", "carol", {}, running=False, gpus="none"
    )
    rows = instances.instance_rows([BOB, other, stopped], now)
    assert rows == [
        ["bob", "summarytool-bob-workstation-1", "8888", "2222", "all", "2h30m", "healthy"],
        ["carol", "summarytool-carol-workstation-1", "-", "-", "none", "-", "exited"],
    ]
    assert instances.uptime("2026-11-20T12:30:00Z", now) == "2d0h"
    assert instances.uptime("2026-11-22T12:29:00Z", now) == "1m05s"
    assert instances.uptime("0001-01-01T00:00:00Z", now) == "-"
    table = instances.table(rows).splitlines()
    assert table[0].split() == ["OWNER", "CONTAINER", "JUPYTER", "SSH", "GPUS", "UP", "HEALTH"]
    assert table[1].split()[0] == "bob" and len(table) == 3
