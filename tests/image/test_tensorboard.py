"""TensorBoard in the real image (issue 18): behind Jupyter's authentication through jupyter-server-proxy
(/tensorboard/, /proxy/PORT/), refused without the token, and over SSH with `ssh -L`; no new port is published."""

from __future__ import annotations

import http.client
import subprocess
import time

from imagekit import free_port, http_status


def _get(
    port: int, path: str, token: str | None = None, timeout: float = 90
) -> tuple[int, dict[str, str], bytes]:
    """One request, redirects not followed: (status, headers, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Authorization": f"token {token}"} if token else {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def _refused(status: int, headers: dict[str, str]) -> bool:
    """Jupyter refuses an unauthenticated request: 403, or (a page) a redirect to its login form."""
    return status == 403 or (status == 302 and "/login" in headers.get("location", ""))


def test_tensorboard_through_jupyter_needs_the_token(start, docker):
    c = start()
    # TensorBoard is in the image, from the lock
    assert c.exec("python", "-c", "import tensorboard; print(tensorboard.__version__)").stdout.strip()
    status, headers, body = _get(c.http_port, "/tensorboard/")
    assert _refused(status, headers), (status, headers)
    assert b"tf-tensorboard" not in body and b"TensorBoard" not in body
    # nothing was started for the unauthenticated request
    assert c.exec("pgrep", "-f", "bin/tensorboard", check=False).returncode == 1
    status, headers, body = _get(c.http_port, "/tensorboard/", c.token)
    assert status == 200, (status, headers, body[:500])
    assert b"<tf-tensorboard" in body or b"TensorBoard" in body
    # it runs as dev, on loopback only, and its data API answers through the proxy too
    ps = c.exec("ps", "-o", "user=,args=", "-C", "tensorboard", check=False).stdout
    assert ps.startswith("dev ") and "--host 127.0.0.1" in ps, ps
    status, _, body = _get(c.http_port, "/tensorboard/data/environment", c.token)
    assert status == 200 and b"data_location" in body
    assert _refused(*_get(c.http_port, "/tensorboard/data/environment", "wrong-token")[:2])
    # a TensorBoard started by hand on 6006 is at /proxy/6006/, with the same rule
    c.exec(
        "bash",
        "-c",
        "cd /tmp && nohup tensorboard --logdir /tmp/tb --host 127.0.0.1 --port 6006 >/tmp/tb.log 2>&1 &",
        user="dev",
    )
    deadline = time.monotonic() + 60
    while _get(c.http_port, "/proxy/6006/", c.token)[0] != 200:
        assert time.monotonic() < deadline, c.exec("cat", "/tmp/tb.log").stdout
        time.sleep(1)
    assert _refused(*_get(c.http_port, "/proxy/6006/")[:2])
    # no new port: the image exposes 8888 and 22 only
    exposed = c.inspect()["Config"]["ExposedPorts"]
    assert sorted(exposed) == ["22/tcp", "8888/tcp"]


def test_ssh_tunnels_to_tensorboard_and_jupyter(start):
    c = start()
    c.ssh("nohup tensorboard --logdir /tmp/tb --host 127.0.0.1 --port 6006 >/tmp/tb.log 2>&1 </dev/null &")
    tb, jup = free_port(), free_port()
    tunnel = subprocess.Popen(
        c.ssh_args(
            "dev",
            "-N",
            "-o",
            "ExitOnForwardFailure=yes",
            "-L",
            f"{tb}:127.0.0.1:6006",
            "-L",
            f"{jup}:127.0.0.1:8888",
        ),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while http_status(tb, "/") != 200:
            assert tunnel.poll() is None, tunnel.communicate()
            assert time.monotonic() < deadline, c.ssh("cat /tmp/tb.log").stdout
            time.sleep(1)
        assert http_status(jup, "/api/status", c.token) == 200
        assert http_status(jup, "/api/status") == 403
    finally:
        tunnel.terminate()
        tunnel.wait(10)
