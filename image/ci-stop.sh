#!/usr/bin/env bash
# Stop the engine that image/ci-prepare.sh started, by the PID it recorded (never by name).
set -euo pipefail
STATE=${IMAGE_CI_STATE:-/var/lib/summarytool-ci}
pidfile="$STATE/dockerd.pid"
[[ -f $pidfile ]] || { echo "ci-stop: no engine recorded in $pidfile" >&2; exit 0; }
pid=$(cat "$pidfile")
if kill -0 "$pid" 2>/dev/null; then
  kill -TERM "$pid"
  for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  if kill -0 "$pid" 2>/dev/null; then
    echo "ci-stop: dockerd $pid still alive after 30 s" >&2
    exit 1
  fi
fi
echo "ci-stop: dockerd $pid stopped" >&2
