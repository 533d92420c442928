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
if [[ -f $state/jupyter ]]; then
  curl -fsS --max-time 4 -o /dev/null -H "Authorization: token $(cat "$state/jupyter-token")" \
    http://127.0.0.1:8888/api/status
fi
