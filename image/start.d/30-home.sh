# shellcheck shell=bash
# Start-up step (sourced by the entrypoint; mandatory): dev's user site and the example notebooks.
set -euo pipefail
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
