# shellcheck shell=bash
# Start-up step (sourced by the entrypoint as root; mandatory): take the host's ids (NB_UID / NB_GID) and make
# /workspace writable by dev.
set -euo pipefail
[[ $(id -u) == 0 ]] || { log "running as uid $(id -u): NB_UID/NB_GID are skipped"; return 0; }

uid=${NB_UID:-} gid=${NB_GID:-} changed=0
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
