# JupyterLab in the summarytool workstation (installed as /etc/jupyter/jupyter_server_config.py).
# The token comes from the JUPYTER_TOKEN environment variable, which the entrypoint always sets (to the
# user's token, the content of JUPYTER_TOKEN_FILE, or a random one): authentication is never off.
c = get_config()  # noqa: F821  (provided by Jupyter when it loads this file)

import os  # noqa: E402

# Started by a JupyterHub (the entrypoint runs jupyterhub-singleuser): the hub says where to listen
# (JUPYTERHUB_SERVICE_URL) and does the login, so neither the port nor the token is fixed here.
_HUB = bool(os.environ.get("JUPYTERHUB_API_TOKEN"))
if not _HUB:
    c.ServerApp.ip = "0.0.0.0"
    c.ServerApp.port = 8888
c.ServerApp.port_retries = 0
c.ServerApp.open_browser = False
c.ServerApp.root_dir = "/workspace"
# Reached through a published port or an SSH tunnel, under whatever host name: the token guards it.
c.ServerApp.allow_remote_access = True
c.ServerApp.terminado_settings = {"shell_command": ["/bin/bash", "-l"]}

# Sharing a server (docs/sharing.md): a password hash besides the token, and TLS with the user's certificate.
# The entrypoint has checked both files are readable and, on a public BIND_ADDRESS, that the token is strong.


def _seconds(name: str, default: int) -> int:
    """An environment variable in seconds (0 switches that culling off); a bad value is said, not fatal."""
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        print(f"[jupyter_server_config] {name}={text!r}: expected seconds >= 0; using {default}")
        return default
    return value


# Idle culling without a hub (README, "Sharing a server"): a kernel idle for JUPYTER_CULL_IDLE_TIMEOUT seconds
# (default 12 h) is shut down, which frees the GPU memory it holds; checked every JUPYTER_CULL_INTERVAL seconds.
# JUPYTER_CULL_CONNECTED=1 culls idle kernels even with a notebook tab open (default: yes, a forgotten tab must
# not pin a GPU for days); JUPYTER_CULL_BUSY=1 culls busy ones too (default: no, a long training cell runs on).
# JUPYTER_SHUTDOWN_NO_ACTIVITY_TIMEOUT stops the whole server after that long without kernels, terminals or
# requests (default 0: off; the container then ends, and `restart: unless-stopped` would start it again, so use
# it with restart: "no" or under a hub).
c.MappingKernelManager.cull_idle_timeout = _seconds("JUPYTER_CULL_IDLE_TIMEOUT", 12 * 3600)
c.MappingKernelManager.cull_interval = _seconds("JUPYTER_CULL_INTERVAL", 300) or 300
c.MappingKernelManager.cull_connected = os.environ.get("JUPYTER_CULL_CONNECTED", "1").strip() == "1"
c.MappingKernelManager.cull_busy = os.environ.get("JUPYTER_CULL_BUSY", "0").strip() == "1"
c.TerminalManager.cull_inactive_timeout = _seconds("JUPYTER_CULL_TERMINAL_TIMEOUT", 0)
c.TerminalManager.cull_interval = c.MappingKernelManager.cull_interval
c.ServerApp.shutdown_no_activity_timeout = _seconds("JUPYTER_SHUTDOWN_NO_ACTIVITY_TIMEOUT", 0)

if os.environ.get("JUPYTER_PASSWORD_HASH"):
    c.PasswordIdentityProvider.hashed_password = os.environ["JUPYTER_PASSWORD_HASH"]
if os.environ.get("JUPYTER_CERTFILE") and os.environ.get("JUPYTER_KEYFILE"):
    c.ServerApp.certfile = os.environ["JUPYTER_CERTFILE"]
    c.ServerApp.keyfile = os.environ["JUPYTER_KEYFILE"]

# TensorBoard behind Jupyter's own authentication (jupyter-server-proxy): http://HOST:8888/tensorboard/ (and a
# JupyterLab launcher entry) starts it on first use, bound to loopback, reading TENSORBOARD_LOGDIR (default
# /workspace/runs, where torch.utils.tensorboard.SummaryWriter() writes). No new port is published; a
# TensorBoard started by hand (`tensorboard --logdir runs --port 6006`) is at /proxy/6006/, or use ssh -L.
_logdir = os.environ.get("TENSORBOARD_LOGDIR") or "/workspace/runs"  # empty (compose's default) too
c.ServerProxy.servers = {
    "tensorboard": {
        "command": [
            "tensorboard",
            "--logdir",
            _logdir,
            "--host",
            "127.0.0.1",
            "--port",
            "{port}",
            "--path_prefix",
            "{base_url}tensorboard",
        ],
        "absolute_url": True,
        "timeout": 60,
        "launcher_entry": {"title": "TensorBoard", "enabled": True},
        "new_browser_tab": True,
    }
}
