# shellcheck shell=bash
# Start-up step (sourced by the entrypoint; mandatory, services only): public ports (BIND_ADDRESS not loopback)
# need a strong token and SSH keys. Checked in Python, as dev (who can read dev's token file and keys), before
# anything starts (exposure_check.py says what and why); a failure stops the container with its exit code.
set -euo pipefail
[[ $START_MODE == services ]] || return 0
root=()
[[ $(id -u) == 0 ]] && root=(--as-root)
"${AS_DEV[@]}" python3 /opt/summarytool/exposure_check.py "${root[@]}"
