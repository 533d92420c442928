# shellcheck shell=bash
# Start-up step (sourced by the entrypoint; mandatory): summarytool selfcheck and env --against the baked lock.
# SELFCHECK=warn: report and go on; strict: a failure stops the container with its exit code; off: skip.
# On a host without a GPU, SELFCHECK_ARGS=--allow-cpu.
set -euo pipefail
mode=${SELFCHECK:-warn} rc=0 extra=()
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
