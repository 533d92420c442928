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
# Messages go to stderr, so that a command's stdout stays its own.
set -euo pipefail

readonly USER_NAME=dev HOME_DIR=/home/dev WORKSPACE=/workspace KEY_DIR=/var/lib/sshd-keys
readonly LOCK=/opt/summarytool/image.lock STATE=/run/workstation

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
as_owner_of() {
  local owner
  owner=$(stat -c %u:%g "$1")
  setpriv --reuid="${owner%:*}" --regid="${owner#*:}" --clear-groups --inh-caps=+chown --ambient-caps=+chown "${@:2}"
}

remap_ids() {
  local uid=${NB_UID:-} gid=${NB_GID:-} changed=0 home_owner
  [[ -z $uid || $uid =~ ^[1-9][0-9]*$ ]] || die "NB_UID=$uid: expected a non-zero number (dev is never root)"
  [[ -z $gid || $gid =~ ^[0-9]+$ ]] || die "NB_GID=$gid: expected a number"
  if [[ -n $gid && $gid != "$(id -g "$USER_NAME")" ]]; then
    groupmod --non-unique --gid "$gid" "$USER_NAME"
    changed=1
  fi
  if [[ -n $uid && $uid != "$(id -u "$USER_NAME")" ]]; then
    # usermod re-owns a home owned by dev's old or new uid by walking it as root, which fails in dev's 0700
    # directories (a home volume from an earlier start has ~/.ssh). So the home is root's for that moment,
    # usermod leaves it alone, and it is handed over below by its owner.
    home_owner=$(stat -c %u:%g "$HOME_DIR")
    chown 0 "$HOME_DIR"
    usermod --non-unique --uid "$uid" "$USER_NAME" || { chown "$home_owner" "$HOME_DIR"; die "usermod failed"; }
    chown "$home_owner" "$HOME_DIR"
    changed=1
  fi
  if ((changed)); then
    as_owner_of "$HOME_DIR" chown -R "$USER_NAME:$USER_NAME" "$HOME_DIR" ||
      log "warning: some files in $HOME_DIR could not be handed over to $USER_NAME (above)"
    log "user $USER_NAME is now uid $(id -u "$USER_NAME") gid $(id -g "$USER_NAME")"
  fi
  # A fresh volume or the image's own directory: hand it over. A bind mount that dev can already write
  # (the host's directory, owned by NB_UID) is left as it is; nothing is changed recursively.
  mkdir -p "$WORKSPACE"
  if ! "${AS_DEV[@]}" test -w "$WORKSPACE"; then
    chown "$USER_NAME:$USER_NAME" "$WORKSPACE"
    log "$WORKSPACE was not writable by $USER_NAME: now owned by $(id -u "$USER_NAME"):$(id -g "$USER_NAME")"
  fi
}

host_keys() {
  install -d -m 0700 "$KEY_DIR"
  local type key
  for type in ed25519 ecdsa rsa; do
    key="$KEY_DIR/ssh_host_${type}_key"
    if [[ ! -s $key ]]; then
      ssh-keygen -q -t "$type" -N '' -C "summarytool-workstation" -f "$key"
      log "generated SSH host key $key"
    fi
  done
  log "SSH host key fingerprints:"
  for key in "$KEY_DIR"/ssh_host_*_key.pub; do
    log "  $(ssh-keygen -l -f "$key")"
  done
}

# A secret file may be one that only dev can read (a bind mount owned by NB_UID, mode 0600): root has no
# DAC_OVERRIDE, so such a file is read as dev.
readable() { [[ -r $1 ]] || "${AS_DEV[@]}" test -r "$1"; }
read_file() { if [[ -r $1 ]]; then cat -- "$1"; else "${AS_DEV[@]}" cat -- "$1"; fi; }

# Written as dev, into dev's own home: root may not enter ~/.ssh (mode 0700, dev's).
authorized_keys() {
  local keys=${SSH_AUTHORIZED_KEYS:-} file="$HOME_DIR/.ssh/authorized_keys"
  if [[ -n ${SSH_AUTHORIZED_KEYS_FILE:-} ]]; then
    readable "$SSH_AUTHORIZED_KEYS_FILE" || die "SSH_AUTHORIZED_KEYS_FILE=$SSH_AUTHORIZED_KEYS_FILE is not readable"
    keys+=$'\n'$(read_file "$SSH_AUTHORIZED_KEYS_FILE")
  fi
  "${AS_DEV[@]}" install -d -m 0700 "$HOME_DIR/.ssh"
  if [[ -n ${keys//[[:space:]]/} ]]; then
    keys=$(grep -vE '^[[:space:]]*(#|$)' <<<"$keys" || true)
    # shellcheck disable=SC2016  # expanded by that bash (install cannot reopen root's pipe as /dev/stdin)
    printf '%s\n' "$keys" | "${AS_DEV[@]}" bash -c 'umask 077 && cat >"$1" && chmod 0600 "$1"' - "$file"
    log "installed $(grep -c . <<<"$keys") authorized key(s) for $USER_NAME"
  elif "${AS_DEV[@]}" test -s "$file"; then
    log "keeping the $("${AS_DEV[@]}" grep -c '' "$file") authorized key(s) already in $file"
  else
    log "warning: no SSH_AUTHORIZED_KEYS / SSH_AUTHORIZED_KEYS_FILE: nobody can log in over SSH"
  fi
}

# summarytool selfcheck and env --against the baked lock. warn: report and go on; strict: a failure
# stops the container with its exit code; off: skip. On a host without a GPU, SELFCHECK_ARGS=--allow-cpu.
selfcheck() {
  local mode=${SELFCHECK:-warn} rc=0 extra=()
  case $mode in
    off) log "self-check skipped (SELFCHECK=off)"; return 0 ;;
    warn | strict) ;;
    *) die "SELFCHECK=$mode: expected warn, strict or off" ;;
  esac
  read -r -a extra <<<"${SELFCHECK_ARGS:-}"
  log "self-check (SELFCHECK=$mode): summarytool selfcheck ${extra[*]}"
  "${AS_DEV[@]}" summarytool selfcheck "${extra[@]}" >&2 || rc=$?
  log "environment check: summarytool env --against $LOCK"
  "${AS_DEV[@]}" summarytool env --against "$LOCK" >&2 || ((rc)) || rc=$?
  if ((rc != 0)); then
    if [[ $mode == strict ]]; then
      log "self-check failed (exit $rc): stopping, SELFCHECK=strict"
      exit "$rc"
    fi
    log "self-check reported problems (exit $rc): going on, SELFCHECK=warn"
  fi
}

# Public ports (BIND_ADDRESS not loopback) need a strong token and SSH keys: checked in Python, as dev
# (who can read dev's token file and keys), before anything starts (exposure_check.py says what and why).
exposure_checks() {
  local rc=0 root=()
  [[ $(id -u) == 0 ]] && root=(--as-root)
  "${AS_DEV[@]}" python3 /opt/summarytool/exposure_check.py "${root[@]}" || rc=$?
  ((rc == 0)) || exit "$rc"
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
if [[ $(id -u) == 0 ]]; then
  remap_ids
  /opt/venv/bin/python /opt/summarytool/ssh_env.py
  if [[ ${START_SSHD:-1} == 1 && $# == 0 ]]; then
    host_keys
    authorized_keys
  fi
else
  log "running as uid $(id -u): NB_UID/NB_GID, SSH keys and the SSH environment are skipped"
fi
# The user site must exist before Python starts: a directory made later (by the first `%pip install`) would not
# be on sys.path until the kernel restarts.
if [[ -n ${PYTHONNOUSERSITE:-} ]]; then
  log "user packages switched off (PYTHONNOUSERSITE=$PYTHONNOUSERSITE): only the image's /opt/venv is used"
elif site=$("${AS_DEV[@]}" python3 -c 'import site; print(site.getusersitepackages())'); then
  "${AS_DEV[@]}" mkdir -p "$site" "$HOME_DIR/.local/bin" || log "warning: could not create $site"
fi
if ! "${AS_DEV[@]}" test -e "$WORKSPACE/notebooks" && "${AS_DEV[@]}" test -w "$WORKSPACE"; then
  "${AS_DEV[@]}" cp -r /opt/summarytool/notebooks "$WORKSPACE/notebooks" || log "could not copy the notebooks"
fi

if (($# == 0)); then
  exposure_checks
fi
selfcheck
if (($#)); then
  echo command >"$STATE/mode"
  # shellcheck disable=SC2016  # expanded by that bash
  exec "${AS_DEV[@]}" bash -c 'cd -- "$1" && shift && exec "$@"' - "$WORKDIR" "$@"
fi
run_services
