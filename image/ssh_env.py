"""Write the container's environment where SSH sessions read it.

sshd starts every session with a clean environment, so `ssh dev@host python train.py` would lose the venv
on PATH, CUDA_*, NVIDIA_* (the NVIDIA runtime reads them), NCCL_* and the rest that `docker run -e` or the
image set. The entrypoint runs this once at start, as root, and it writes:

- /etc/environment, read by pam_env for every SSH session (commands too, not only login shells);
- /etc/profile.d/10-summarytool-env.sh, for login shells, whose /etc/profile may reset PATH.

Only variables matching ALLOWED are written: secrets such as JUPYTER_TOKEN stay out. /etc/environment is
no shell file (pam_env reads KEY=VALUE literally, a trailing backslash continues a line), so a value that it
cannot hold is left to the profile.d file, which quotes everything.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from collections.abc import Mapping

ALLOWED = re.compile(
    r"^(PATH|LD_LIBRARY_PATH|LIBRARY_PATH|VIRTUAL_ENV|LANG|LANGUAGE|LC_[A-Z]+|TZ"
    r"|CUDA_[A-Z0-9_]*|NVIDIA_[A-Z0-9_]*|NCCL_[A-Z0-9_]*|CUDNN_[A-Z0-9_]*"
    r"|HF_[A-Z0-9_]*|HUGGINGFACE_[A-Z0-9_]*|TRANSFORMERS_[A-Z0-9_]*|TORCH_[A-Z0-9_]*|PYTORCH_[A-Z0-9_]*"
    r"|OMP_NUM_THREADS|MKL_NUM_THREADS|TRITON_[A-Z0-9_]*|SUMMARYTOOL_[A-Z0-9_]*"
    r"|PIP_[A-Z0-9_]*|PYTHONUNBUFFERED|PYTHONNOUSERSITE|SSL_CERT_FILE|SSL_CERT_DIR|REQUESTS_CA_BUNDLE|CURL_CA_BUNDLE"
    r"|http_proxy|https_proxy|no_proxy|HTTP_PROXY|HTTPS_PROXY|NO_PROXY)$"
)
# Set per session by sshd or PAM; never copied.
NEVER = {"HOME", "USER", "LOGNAME", "SHELL", "PWD", "TERM", "SHLVL", "HOSTNAME", "JUPYTER_TOKEN"}

ENVIRONMENT_FILE = "/etc/environment"
PROFILE_FILE = "/etc/profile.d/10-summarytool-env.sh"
HEADER = "# Written by the summarytool image's entrypoint at container start; edits are overwritten.\n"


def select(environ: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in sorted(environ.items()) if ALLOWED.match(k) and k not in NEVER}


def pam_safe(value: str) -> bool:
    return not any(c in value for c in "\n\r\\\"'")


def render_environment(env: Mapping[str, str]) -> str:
    return HEADER + "".join(f"{k}={v}\n" for k, v in env.items() if pam_safe(v))


def render_profile(env: Mapping[str, str]) -> str:
    return HEADER + "".join(f"export {k}={shlex.quote(v)}\n" for k, v in env.items())


def write(path: str, text: str) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def main() -> int:
    env = select(os.environ)
    write(ENVIRONMENT_FILE, render_environment(env))
    write(PROFILE_FILE, render_profile(env))
    skipped = [k for k, v in env.items() if not pam_safe(v)]
    note = f" ({', '.join(skipped)} only in {PROFILE_FILE})" if skipped else ""
    print(f"[entrypoint] SSH sessions get {len(env)} variables{note}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
