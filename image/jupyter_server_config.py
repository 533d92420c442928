# JupyterLab in the summarytool workstation (installed as /etc/jupyter/jupyter_server_config.py).
# The token comes from the JUPYTER_TOKEN environment variable, which the entrypoint always sets (to the
# user's token, the content of JUPYTER_TOKEN_FILE, or a random one): authentication is never off.
c = get_config()  # noqa: F821  (provided by Jupyter when it loads this file)

c.ServerApp.ip = "0.0.0.0"
c.ServerApp.port = 8888
c.ServerApp.port_retries = 0
c.ServerApp.open_browser = False
c.ServerApp.root_dir = "/workspace"
# Reached through a published port or an SSH tunnel, under whatever host name: the token guards it.
c.ServerApp.allow_remote_access = True
c.ServerApp.terminado_settings = {"shell_command": ["/bin/bash", "-l"]}
c.ServerApp.shutdown_no_activity_timeout = 0

# Sharing a server (docs/sharing.md): a password hash besides the token, and TLS with the user's certificate.
# The entrypoint has checked both files are readable and, on a public BIND_ADDRESS, that the token is strong.
import os  # noqa: E402

if os.environ.get("JUPYTER_PASSWORD_HASH"):
    c.PasswordIdentityProvider.hashed_password = os.environ["JUPYTER_PASSWORD_HASH"]
if os.environ.get("JUPYTER_CERTFILE") and os.environ.get("JUPYTER_KEYFILE"):
    c.ServerApp.certfile = os.environ["JUPYTER_CERTFILE"]
    c.ServerApp.keyfile = os.environ["JUPYTER_KEYFILE"]

# TensorBoard behind Jupyter's own authentication (jupyter-server-proxy): http://HOST:8888/tensorboard/ (and a
# JupyterLab launcher entry) starts it on first use, bound to loopback, reading TENSORBOARD_LOGDIR (default
# /workspace/runs, where torch.utils.tensorboard.SummaryWriter() writes). No new port is published; a
# TensorBoard started by hand (`tensorboard --logdir runs --port 6006`) is at /proxy/6006/, or use ssh -L.
_logdir = os.environ.get("TENSORBOARD_LOGDIR", "/workspace/runs")
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
