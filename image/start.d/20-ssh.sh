# shellcheck shell=bash
# Start-up step (sourced by the entrypoint as root; mandatory): the SSH sessions' environment (GPU variables,
# PATH), and for sshd the host keys (kept in KEY_DIR, a volume) and dev's authorized keys.
set -euo pipefail
[[ $(id -u) == 0 ]] || { log "running as uid $(id -u): SSH keys and the SSH environment are skipped"; return 0; }

/opt/venv/bin/python /opt/summarytool/ssh_env.py
[[ ${START_SSHD:-1} == 1 && $START_MODE == services ]] || return 0

install -d -m 0700 "$KEY_DIR"
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

# Written as dev, into dev's own home: root may not enter ~/.ssh (mode 0700, dev's).
keys=${SSH_AUTHORIZED_KEYS:-} file="$HOME_DIR/.ssh/authorized_keys"
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
