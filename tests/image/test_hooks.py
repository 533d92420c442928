"""Start-up hooks: a team's scripts mounted into /etc/summarytool/start.d run in file-name order among the
image's own steps; a failing one is logged and skipped, a failing image step stops the container."""

from __future__ import annotations

from pathlib import Path

HOOKS = "/etc/summarytool/start.d"


def _hooks(tmp_path: Path) -> Path:
    d = tmp_path / "start.d"
    d.mkdir()
    d.chmod(0o755)
    files = {
        # sourced: sees the entrypoint's helpers; 15 runs after the image's 10-user.sh (workspace made)
        "15-team.sh": 'log "team hook in $START_MODE mode"\n'
        'test -d "$WORKSPACE"\n'
        "echo 15-team >>/tmp/hook-order\n"
        '"${AS_DEV[@]}" touch /tmp/made-by-dev\n',
        "25-broken.sh": "echo 25-broken >>/tmp/hook-order\nfalse\necho never >>/tmp/hook-order\n",
        "35-program": "#!/bin/sh\nset -eu\necho 35-program >>/tmp/hook-order\n",
        "45-notes.txt": "neither a *.sh nor executable\n",
    }
    for name, text in files.items():
        (d / name).write_text(text)
        (d / name).chmod(0o755 if name == "35-program" else 0o644)
    return d


def test_mounted_hooks_run_in_order_and_a_failing_one_is_skipped(start, tmp_path):
    c = start(volumes={str(_hooks(tmp_path)): f"{HOOKS}:ro"})  # comes up: the broken hook did not stop it
    assert c.exec("cat", "/tmp/hook-order").stdout.split() == ["15-team", "25-broken", "35-program"]
    assert c.exec("stat", "-c", "%U", "/tmp/made-by-dev").stdout.strip() == "dev"
    logs = c.logs()
    assert "team hook in services mode" in logs
    assert f"warning: start-up hook {HOOKS}/25-broken.sh failed (exit 1): skipped, going on" in logs
    assert f"ignoring {HOOKS}/45-notes.txt: neither *.sh nor executable" in logs


def test_hooks_run_before_a_command(docker, image, tmp_path):
    p = docker(
        "run", "--rm", "-e", "SELFCHECK=off", "-v", f"{_hooks(tmp_path)}:{HOOKS}:ro",
        image.tag, "cat", "/tmp/hook-order", check=False,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["15-team", "25-broken", "35-program"]
    assert "team hook in command mode" in p.stderr


def test_a_failing_image_step_stops_the_container(docker, image):
    p = docker("run", "--rm", "-e", "SELFCHECK=sometimes", image.tag, "true", check=False)
    assert p.returncode == 2
    assert "SELFCHECK=sometimes: expected warn, strict or off" in p.stderr
    assert (
        "start-up step /usr/local/share/summarytool/start.d/50-selfcheck.sh failed (exit 2): stopping"
        in p.stderr
    )
