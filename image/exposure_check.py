"""The entrypoint's exposure check, run as dev before any service starts (dev can read dev's files).

BIND_ADDRESS is where the host publishes the ports (compose passes it on). Anything but loopback is
reachable from other machines, so Jupyter needs a strong token or a password hash, and sshd needs keys.
Exit 0: fine; 2: a setting is wrong (a TLS pair half set, a file dev cannot read); 3: a public binding
that is not protected. Messages go to stderr with the entrypoint's prefix.
The rule itself (`binding_problems`) is also what `image/instances.py` checks on the host before
`make run` starts anything, so the two never disagree.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

MIN_TOKEN = 32
LOOPBACK = re.compile(r"(127\.[0-9.]+|::1|localhost)")
HOME = Path("/home/dev")


def log(message: str) -> None:
    print(f"[entrypoint] {message}", file=sys.stderr)


def hub_mode(env: dict[str, str]) -> bool:
    hub_url = env.get("JUPYTERHUB_SERVICE_URL", "") + env.get("JUPYTERHUB_SERVICE_PREFIX", "")
    return bool(env.get("JUPYTERHUB_API_TOKEN")) and bool(hub_url)


def readable(path: str) -> bool:
    return os.access(path, os.R_OK)


def tls_problem(env: dict[str, str]) -> str | None:
    cert, key = env.get("JUPYTER_CERTFILE", ""), env.get("JUPYTER_KEYFILE", "")
    if not (cert or key):
        return None
    if not (cert and key):
        return "set both JUPYTER_CERTFILE and JUPYTER_KEYFILE"
    for name, path in (("JUPYTER_CERTFILE", cert), ("JUPYTER_KEYFILE", key)):
        if not readable(path):
            return f"{name}={path} is not readable by dev"
    log(f"JupyterLab serves HTTPS with {cert}")
    return None


def is_public(bind: str) -> bool:
    """Anything but loopback is reachable from other machines."""
    return not LOOPBACK.fullmatch(bind or "127.0.0.1")


def binding_problems(token: str | None, ssh_keys: bool | None) -> list[str]:
    """What a public binding lacks. `token`: Jupyter's token (None: protected otherwise, or not started);
    `ssh_keys`: whether sshd has keys to accept (None: sshd is not started or cannot be checked)."""
    problems = []
    if token is not None and len(token) < MIN_TOKEN:
        problems.append(
            f"JupyterLab needs JUPYTER_TOKEN (or JUPYTER_TOKEN_FILE) of at least {MIN_TOKEN} characters, or "
            f"JUPYTER_PASSWORD_HASH; this one has {len(token)}. Make one: "
            "python3 -c 'import secrets; print(secrets.token_hex(32))'"
        )
    if ssh_keys is False:
        problems.append("sshd needs SSH_AUTHORIZED_KEYS or SSH_AUTHORIZED_KEYS_FILE (key login only)")
    return problems


def exposure_problems(env: dict[str, str], as_root: bool) -> list[str]:
    token = None
    if env.get("START_JUPYTER", "1") == "1" and not env.get("JUPYTER_PASSWORD_HASH") and not hub_mode(env):
        token = env.get("JUPYTER_TOKEN", "")
        token_file = env.get("JUPYTER_TOKEN_FILE", "")
        if token_file and readable(token_file):
            token = "".join(Path(token_file).read_text(errors="replace").split())
    keys = HOME / ".ssh" / "authorized_keys"  # authorized_keys() has written SSH_AUTHORIZED_KEYS(_FILE) there
    ssh_keys = None
    if env.get("START_SSHD", "1") == "1" and as_root:
        ssh_keys = keys.exists() and keys.stat().st_size > 0
    return binding_problems(token, ssh_keys)


def main(env: dict[str, str], as_root: bool) -> int:
    problem = tls_problem(env)
    if problem:
        log(f"error: {problem}")
        return 2
    bind = env.get("BIND_ADDRESS") or "127.0.0.1"
    if not is_public(bind):
        return 0
    problems = exposure_problems(env, as_root)
    if problems:
        log(f"error: BIND_ADDRESS={bind} publishes the ports beyond this host, and:")
        for item in problems:
            print(f"[entrypoint]   - {item}", file=sys.stderr)
        log("not starting. Fix the above, or keep BIND_ADDRESS=127.0.0.1 and use ssh -L / a reverse proxy.")
        return 3
    log(f"BIND_ADDRESS={bind}: ports are public; token and SSH keys checked")
    return 0


if __name__ == "__main__":
    sys.exit(main(dict(os.environ), as_root="--as-root" in sys.argv[1:]))
