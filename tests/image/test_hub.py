"""The real image started as a JupyterHub would start it (JUPYTERHUB_* variables, the spawner's command): the
entrypoint runs jupyterhub-singleuser as dev under the hub's /user/NAME/ prefix, with the self-check and the SSH
environment as usual; without those variables nothing changes. Idle culling settings reach the real Jupyter.
No hub runs here: the server's unauthenticated /user/NAME/api answers, its authenticated API redirects to the
hub's login, and the healthcheck follows the hub's URL."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid

HUB_ENV = {
    "JUPYTERHUB_API_TOKEN": uuid.uuid4().hex,
    "JUPYTERHUB_API_URL": "http://hub.invalid:8081/hub/api",
    "JUPYTERHUB_BASE_URL": "/",
    "JUPYTERHUB_CLIENT_ID": "jupyterhub-user-alice",
    "JUPYTERHUB_USER": "alice",
    "JUPYTERHUB_SERVER_NAME": "",
    "JUPYTERHUB_SERVICE_PREFIX": "/user/alice/",
    "JUPYTERHUB_SERVICE_URL": "http://0.0.0.0:8888/user/alice/",
    "JUPYTERHUB_OAUTH_CALLBACK_URL": "/user/alice/oauth_callback",
    "JUPYTERHUB_HOST": "",
    "JUPYTER_TOKEN": "",
}


def get(url: str) -> tuple[int, str, dict]:
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *a, **kw):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(url, timeout=5) as r:
            return r.status, r.read().decode(), dict(r.headers)
    except urllib.error.HTTPError as err:
        return err.code, "", dict(err.headers)
    except OSError:  # not listening yet (the published port resets the connection)
        return 0, "", {}


def test_singleuser_mode_under_a_hub(start):
    """No hub answers at JUPYTERHUB_API_URL, so jupyterhub-singleuser, once started, gives up after its retries
    and the container ends: its own log lines prove which server the entrypoint started, as dev."""
    c = start(
        env={**HUB_ENV, "SELFCHECK": "warn", "SELFCHECK_ARGS": "--allow-cpu"},
        ready=False,
        command=["jupyterhub-singleuser", "--debug"],
    )
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline and "JupyterHubSingleUser" not in c.logs():
        time.sleep(1)
    logs = c.logs()
    assert "started by a JupyterHub" in logs and "jupyterhub-singleuser for alice" in logs, logs[-4000:]
    assert "self-check (SELFCHECK=warn)" in logs  # the same self-check first
    assert "JupyterHubSingleUser" in logs and "hub.invalid:8081/hub/api" in logs, logs[-4000:]
    assert "Jupyter token" not in logs  # no token-protected Lab


def test_no_hub_variables_no_change(start):
    c = start()
    assert "started by a JupyterHub" not in c.logs()
    assert "jupyter-lab" in c.exec("ps", "-eo", "args").stdout


def test_culling_settings_reach_jupyter(start):
    c = start(env={"JUPYTER_CULL_IDLE_TIMEOUT": "2", "JUPYTER_CULL_INTERVAL": "1"})
    headers = {"Authorization": f"token {c.token}", "Content-Type": "application/json"}
    url = f"http://127.0.0.1:{c.http_port}/api/kernels"
    req = urllib.request.Request(url, data=b"{}", headers=headers, method="POST")
    kernel = json.loads(urllib.request.urlopen(req, timeout=30).read())["id"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ids = [
            k["id"]
            for k in json.loads(
                urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10).read()
            )
        ]
        if kernel not in ids:
            break
        time.sleep(1)
    assert kernel not in ids, c.logs()[-3000:]
    assert "Culling kernel" in c.logs() or "culling" in c.logs().lower()
