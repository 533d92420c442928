"""The GPU dashboard in the real image (issue 18): jupyterlab-nvdashboard's JupyterLab extension is installed and
enabled, and its server endpoints, behind Jupyter's token, answer on this GPU-less host with "no GPU" (its GPU
streams are not registered, its status says so, its CPU stream runs) instead of an error; without the token,
nothing is served."""

from __future__ import annotations

import json
import re

from test_tensorboard import _get, _refused

# Runs inside the container: one websocket to a dashboard stream, the first two messages printed as JSON
# (the extension sends {"status": "connected"}, then a sample every second).
STREAM = r"""
import asyncio, json, sys
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.websocket import websocket_connect
path, token = sys.argv[1], sys.argv[2]
async def main():
    headers = {"Authorization": f"token {token}"} if token else {}
    try:
        ws = await websocket_connect(HTTPRequest(f"ws://127.0.0.1:8888{path}", headers=headers))
    except HTTPClientError as err:
        print(json.dumps({"http": err.code}))
        return
    msgs = []
    for _ in range(2):
        msg = await asyncio.wait_for(ws.read_message(), 30)
        if msg is None:
            break
        msgs.append(json.loads(msg))
    print(json.dumps({"messages": msgs}))
asyncio.run(main())
"""


def _stream(c, path: str, token: str) -> dict:
    out = c.exec("python", "-c", STREAM, path, token, user="dev").stdout
    return json.loads(out.strip().splitlines()[-1])


def test_the_dashboard_extension_is_installed_and_enabled(start):
    c = start()
    labext = c.exec("jupyter", "labextension", "list", user="dev")
    listing = re.sub(r"\x1b\[[0-9;]*m", "", labext.stdout + labext.stderr)  # without its colours
    assert re.search(r"jupyterlab-nvdashboard v0\.15\.\d+ enabled\s+OK", listing), listing
    serverext = c.exec("jupyter", "server", "extension", "list", user="dev")
    servers = re.sub(r"\x1b\[[0-9;]*m", "", serverext.stdout + serverext.stderr)
    assert re.search(r"jupyterlab_nvdashboard \S+ OK", servers), servers
    # what the browser gets: the lab page's config names the extension among those it loads
    status, _, body = _get(c.http_port, "/lab", c.token)
    assert status == 200
    config = json.loads(
        re.search(
            rb'<script id="jupyter-config-data" type="application/json">(.*?)</script>', body, re.S
        ).group(1)
    )
    assert "jupyterlab-nvdashboard" in {e["name"] for e in config["federated_extensions"]}
    assert "jupyterlab-nvdashboard" not in config.get("disabledExtensions", [])


def test_without_a_gpu_the_dashboard_says_so_and_refuses_without_the_token(start):
    c = start()
    # no NVML on this host (no --gpus): the status endpoint answers, and says there is no GPU
    status, headers, body = _get(c.http_port, "/nvdashboard/accelerators/check", c.token)
    assert status == 200, (status, body[:500])
    answer = json.loads(body)
    assert answer["has_gpu"] is False and answer["ngpus"] == 0, answer
    # the GPU streams are not there at all (not a 500 or a traceback per sample)...
    assert _get(c.http_port, "/nvdashboard/gpu_utilization", c.token)[0] == 404
    assert _stream(c, "/nvdashboard/gpu_resource", c.token) == {"http": 404}
    # ...and the CPU stream runs: connected, then a sample
    (hello, sample) = _stream(c, "/nvdashboard/cpu_resource", c.token)["messages"]
    assert hello == {"status": "connected"}
    assert {"cpu_utilization", "memory_usage", "disk_read", "network_read"} <= set(sample), sample
    # without the token (or with a wrong one) nothing is served
    for token in (None, "wrong-token"):
        status, headers, body = _get(c.http_port, "/nvdashboard/accelerators/check", token)
        # a JupyterHandler, not an API handler: Jupyter sends it to the login form (302), as for a page
        assert status == 302 and "/login?next=" in headers.get("location", ""), (status, headers, body[:300])
        assert _refused(status, headers)
        assert b"has_gpu" not in body
    assert "cpu_utilization" not in json.dumps(_stream(c, "/nvdashboard/cpu_resource", "wrong-token"))
    # and the server logged no error for it
    log = c.logs()
    assert "Registered jupyterlab_nvdashboard server extension" in log, log[-3000:]
    assert "Traceback" not in log and "nvdashboard" not in "".join(
        line for line in log.splitlines() if "ERROR" in line or " 500 " in line
    ), log[-3000:]
