#!/usr/bin/env bash
# The workstation's entrypoint, run by tini (PID 1, -g: signals reach the whole process group).
#   no command:   self-check, then sshd and JupyterLab; the container ends when either ends.
#   a command:    self-check, then the command as `dev`; the container exits with its code.
# Environment: NB_UID NB_GID JUPYTER_TOKEN JUPYTER_TOKEN_FILE SSH_AUTHORIZED_KEYS SSH_AUTHORIZED_KEYS_FILE
#              SELFCHECK=warn|strict|off SELFCHECK_ARGS START_JUPYTER START_SSHD (see README, "The image")
#              BIND_ADDRESS JUPYTER_PASSWORD_HASH JUPYTER_CERTFILE JUPYTER_KEYFILE (docs/sharing.md).
#              PYTHONNOUSERSITE=1: start with dev's own packages (~/.local) switched off.
#              Started by a JupyterHub (JUPYTERHUB_API_TOKEN and JUPYTERHUB_SERVICE_URL / _PREFIX set, as
#              DockerSpawner and KubeSpawner do): jupyterhub-singleuser instead of the token-protected Lab, the hub
#              doing the login; same user, self-check and SSH environment (README, "Sharing a server").
# Start-up is a sequence of steps, run in the order of their file names (README, "Start-up hooks"):
#   HOOKS_IMAGE (the image's own, mandatory: a failure stops the container with its exit code) and
#   HOOKS_TEAM (a team's, mounted; optional: a failure is logged and start-up goes on), merged by name.
#   *.sh files are sourced in a subshell (they see log, die, AS_DEV, START_MODE=services|command and the
#   names below); other executable files are run; anything else is ignored with a message.
# Messages go to stderr, so that a command's stdout stays its own.
set -euo pipefail

# shellcheck disable=SC2034  # KEY_DIR, LOCK, START_MODE and as_owner_of are for the start.d steps
readonly USER_NAME=dev HOME_DIR=/home/dev WORKSPACE=/workspace KEY_DIR=/var/lib/sshd-keys
# shellcheck disable=SC2034
readonly LOCK=/opt/summarytool/image.lock STATE=/run/workstation
readonly HOOKS_IMAGE=/usr/local/share/summarytool/start.d HOOKS_TEAM=${START_HOOKS_DIR:-/etc/summarytool/start.d}

log() { printf '[entrypoint] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 2; }

# How to run something as dev; empty when the container already runs as a non-root user (then the
# root-only steps are skipped, and sshd cannot start).
# dev's own packages (`pip install X` as dev: a user install on the home volume) have their scripts in
# ~/.local/bin; PYTHONNOUSERSITE=1 switches the user packages off, and that directory with them.
DEV_PATH=$([[ -n ${PYTHONNOUSERSITE:-} ]] || printf '%s' "$HOME_DIR/.local/bin:")$PATH
AS_DEV=()
if [[ $(id -u) == 0 ]]; then
  AS_DEV=(setpriv --reuid="$USER_NAME" --regid="$USER_NAME" --init-groups
    env HOME="$HOME_DIR" USER="$USER_NAME" LOGNAME="$USER_NAME" SHELL=/bin/bash PATH="$DEV_PATH")
fi

# Root here has no DAC_OVERRIDE or FOWNER (README, "Capabilities"): it cannot enter dev's private directories
# (~/.ssh) or change the mode of dev's files. What happens inside dev's home is done as dev, or as the home's
# owner (setpriv, keeping only CAP_CHOWN) when dev's ids change.
# shellcheck disable=SC2329
as_owner_of() {
  local owner
  owner=$(stat -c %u:%g "$1")
  setpriv --reuid="${owner%:*}" --regid="${owner#*:}" --clear-groups --inh-caps=+chown --ambient-caps=+chown "${@:2}"
}

# A secret file may be one that only dev can read (a bind mount owned by NB_UID, mode 0600): root has no
# DAC_OVERRIDE, so such a file is read as dev.
readable() { [[ -r $1 ]] || "${AS_DEV[@]}" test -r "$1"; }
read_file() { if [[ -r $1 ]]; then cat -- "$1"; else "${AS_DEV[@]}" cat -- "$1"; fi; }

# Every hook of both directories, ordered by file name (a team's 35-x.sh runs between the image's 30 and 40).
run_hooks() {
  local hook rc required
  shopt -s nullglob
  local all=("$HOOKS_IMAGE"/* "$HOOKS_TEAM"/*)
  shopt -u nullglob
  ((${#all[@]})) || return 0
  while IFS=$'\t' read -r _ hook; do
    [[ -f $hook ]] || continue
    required=0
    [[ $hook == "$HOOKS_IMAGE"/* ]] && required=1
    rc=0
    set +e
    if [[ $hook == *.sh ]]; then
      # shellcheck disable=SC1090  # the hooks are found at run time
      (
        set -e
        source "$hook"
      )
      rc=$?
    elif [[ -x $hook ]]; then
      "$hook"
      rc=$?
    else
      log "ignoring $hook: neither *.sh nor executable"
    fi
    set -e
    ((rc == 0)) && continue
    ((required)) && { log "start-up step $hook failed (exit $rc): stopping"; exit "$rc"; }
    log "warning: start-up hook $hook failed (exit $rc): skipped, going on"
  done < <(for hook in "${all[@]}"; do printf '%s\t%s\n' "${hook##*/}" "$hook"; done | sort)
}

# A hub starts the server with its API token and where to serve (JUPYTERHUB_SERVICE_URL / _PREFIX).
hub_mode() { [[ -n ${JUPYTERHUB_API_TOKEN:-} && -n ${JUPYTERHUB_SERVICE_URL:-}${JUPYTERHUB_SERVICE_PREFIX:-} ]]; }

start_singleuser() {
  local url=${JUPYTERHUB_SERVICE_URL:-http://0.0.0.0:8888${JUPYTERHUB_SERVICE_PREFIX:-/}} port
  port=$(sed -nE 's#^[a-z]+://[^/:]*:([0-9]+).*#\1#p' <<<"$url")
  log "started by a JupyterHub (${JUPYTERHUB_API_URL:-hub}): jupyterhub-singleuser for ${JUPYTERHUB_USER:-?} at $url"
  # The hub's login guards the server; a JUPYTER_TOKEN is not used (and not kept in the environment).
  unset JUPYTER_TOKEN JUPYTER_TOKEN_FILE
  printf 'http://127.0.0.1:%s%sapi\n' "${port:-8888}" "${JUPYTERHUB_SERVICE_PREFIX:-/}" >"$STATE/jupyter-hub-url"
  # shellcheck disable=SC2016  # expanded by that bash
  "${AS_DEV[@]}" bash -c 'cd -- "$1" && shift && exec jupyterhub-singleuser "$@"' jupyterhub-singleuser \
    "$WORKSPACE" "${SINGLEUSER_ARGS[@]}" &
}

jupyter_token() {
  local scheme=http
  [[ -n ${JUPYTER_CERTFILE:-} ]] && scheme=https
  if [[ -n ${JUPYTER_TOKEN_FILE:-} ]]; then
    readable "$JUPYTER_TOKEN_FILE" || die "JUPYTER_TOKEN_FILE=$JUPYTER_TOKEN_FILE is not readable"
    JUPYTER_TOKEN=$(read_file "$JUPYTER_TOKEN_FILE" | tr -d '[:space:]')
    [[ -n $JUPYTER_TOKEN ]] || die "JUPYTER_TOKEN_FILE=$JUPYTER_TOKEN_FILE is empty"
    log "Jupyter token from JUPYTER_TOKEN_FILE"
  elif [[ -n ${JUPYTER_TOKEN:-} ]]; then
    log "Jupyter token from JUPYTER_TOKEN"
  else
    # An empty token would switch authentication off: never let that happen.
    JUPYTER_TOKEN=$(python3 -c 'import secrets; print(secrets.token_hex(24))')
    log "Jupyter token (generated; set JUPYTER_TOKEN or JUPYTER_TOKEN_FILE to choose one): $JUPYTER_TOKEN"
    log "JupyterLab: $scheme://127.0.0.1:8888/lab?token=$JUPYTER_TOKEN (use the host port you published)"
  fi
  export JUPYTER_TOKEN
  (umask 077 && printf '%s\n' "$JUPYTER_TOKEN" >"$STATE/jupyter-token")
}

run_services() {
  local start_sshd=${START_SSHD:-1} start_jupyter=${START_JUPYTER:-1} pids=() rc=0
  if [[ $start_sshd == 1 && $(id -u) != 0 ]]; then
    log "running as uid $(id -u), not root: sshd cannot start"
    start_sshd=0
  fi
  ((start_sshd || start_jupyter)) || die "START_SSHD=0 and START_JUPYTER=0 with no command: nothing to run"
  if ((start_sshd)); then
    mkdir -p /run/sshd
    /usr/sbin/sshd -D -e -f /etc/ssh/sshd_config &
    pids+=("$!")
    echo "$!" >"$STATE/sshd"
  fi
  if ((start_jupyter)) && hub_mode; then
    start_singleuser
    pids+=("$!")
    echo "$!" >"$STATE/jupyter"
  elif ((start_jupyter)); then
    jupyter_token
    # cd: Jupyter's working directory must be one dev may read, whatever the container's workdir; as dev,
    # since root may not enter a private (0700) workspace of dev's.
    # shellcheck disable=SC2016  # expanded by that bash
    "${AS_DEV[@]}" bash -c 'cd -- "$1" && exec jupyter lab' jupyter-lab "$WORKSPACE" &
    pids+=("$!")
    echo "$!" >"$STATE/jupyter"
  fi
  echo services >"$STATE/mode"
  trap 'kill -TERM "${pids[@]}" 2>/dev/null || true' TERM INT
  wait -n "${pids[@]}" || rc=$?
  log "a service ended (exit $rc): stopping the others"
  kill -TERM "${pids[@]}" 2>/dev/null || true
  wait || true
  exit "$rc"
}

# The container's working directory (the image's is /workspace) may be dev's and private (0700), where root may not
# go: the entrypoint works in /, and a command starts back there, as dev.
readonly WORKDIR=$PWD
cd /
# A spawner passes `jupyterhub-singleuser [--options]` (or just options) as the command: under a hub that is the
# service mode (sshd as configured, the hub's server instead of Lab), not a one-off command.
SINGLEUSER_ARGS=()
if hub_mode && (($#)) && [[ $1 == jupyterhub-singleuser || $1 == --* ]]; then
  [[ $1 == jupyterhub-singleuser ]] && shift
  SINGLEUSER_ARGS=("$@")
  set --
fi
mkdir -p "$STATE"
find "$STATE" -mindepth 1 -delete # what a previous run (before a restart) left
# shellcheck disable=SC2034
START_MODE=$( (($#)) && echo command || echo services)
run_hooks
if (($#)); then
  echo command >"$STATE/mode"
  # shellcheck disable=SC2016  # expanded by that bash
  exec "${AS_DEV[@]}" bash -c 'cd -- "$1" && shift && exec "$@"' - "$WORKDIR" "$@"
fi
run_services
