#!/usr/bin/env bash
# The image's HEALTHCHECK: healthy when every service the entrypoint started answers.
# Jupyter is asked for /api/status with the token (without it the API answers 403).
set -euo pipefail
state=/run/workstation
mode=$(cat "$state/mode" 2>/dev/null) || exit 1   # still starting (self-check)
[[ $mode == services ]] || exit 0                  # command mode: nothing to serve
if [[ -f $state/sshd ]]; then
  kill -0 "$(cat "$state/sshd")"
fi
if [[ -f $state/jupyter-hub-url ]]; then
  # Under a JupyterHub: the server's /api (its version) answers without the hub's login.
  curl -fsS --max-time 4 -o /dev/null "$(cat "$state/jupyter-hub-url")"
elif [[ -f $state/jupyter ]]; then
  # With TLS (JUPYTER_CERTFILE) the user's certificate names the host, not 127.0.0.1: -k is enough here.
  url=http://127.0.0.1:8888/api/status tls=()
  [[ -z ${JUPYTER_CERTFILE:-} ]] || { url=https://127.0.0.1:8888/api/status; tls=(-k); }
  curl -fsS "${tls[@]}" --max-time 4 -o /dev/null -H "Authorization: token $(cat "$state/jupyter-token")" "$url"
fi
