#!/usr/bin/env bash
# Prepare this machine to build and test the workstation image, with no registry and no running engine:
#   1. apt: docker.io, mmdebstrap, openssh-client (the tests' ssh), chromium (the browser test),
#      node-configurable-http-proxy (the real JupyterHub's proxy, tests/image/test_hub_real.py);
#   2. a Docker engine started by hand, its PID recorded (stop it with image/ci-stop.sh, never by name);
#   3. a stand-in for the CUDA base: Debian minbase with this machine's extra CA certificates inside.
# Re-running reuses a live engine and an existing base. Progress goes to stderr; stdout is only
# `export` lines, so CI does:   eval "$(bash image/ci-prepare.sh)"
set -euo pipefail

STATE=${IMAGE_CI_STATE:-/var/lib/summarytool-ci}
SOCK="$STATE/docker.sock"
BASE_TAG=${IMAGE_CI_BASE:-localhost/summarytool-base:bookworm}
DOCKER=/usr/bin/docker           # Debian's CLI: speaks the engine's API and builds without buildx
export DOCKER_HOST="unix://$SOCK" DOCKER_BUILDKIT=0

log() { printf 'ci-prepare: %s\n' "$*" >&2; }

need=()
for tool in dockerd:docker.io mmdebstrap:mmdebstrap ssh:openssh-client ssh-keygen:openssh-client \
  chromium:chromium configurable-http-proxy:node-configurable-http-proxy; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || need+=("${tool#*:}")
done
[[ -x $DOCKER ]] || need+=(docker.io)
if ((${#need[@]})); then
  log "apt-get install ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
fi

mkdir -p "$STATE"
if [[ -f $STATE/dockerd.pid ]] && kill -0 "$(cat "$STATE/dockerd.pid")" 2>/dev/null \
  && "$DOCKER" info >/dev/null 2>&1; then
  log "engine already running (pid $(cat "$STATE/dockerd.pid"))"
else
  log "starting dockerd (data root $STATE/data, log $STATE/dockerd.log)"
  # setsid: the engine must outlive this script and CI's shell; it is stopped by PID (image/ci-stop.sh).
  setsid dockerd --data-root "$STATE/data" --exec-root "$STATE/exec" --pidfile "$STATE/dockerd.pid" \
    -H "$DOCKER_HOST" --storage-driver overlay2 >"$STATE/dockerd.log" 2>&1 </dev/null &
  for _ in $(seq 60); do
    "$DOCKER" info >/dev/null 2>&1 && break
    sleep 0.5
  done
  "$DOCKER" info >/dev/null 2>&1 || { tail -20 "$STATE/dockerd.log" >&2; log "dockerd did not come up"; exit 1; }
  log "engine up (pid $(cat "$STATE/dockerd.pid"))"
fi

if "$DOCKER" image inspect "$BASE_TAG" >/dev/null 2>&1; then
  log "stand-in base $BASE_TAG already present"
else
  log "building stand-in base $BASE_TAG with mmdebstrap"
  tar_file="$STATE/base.tar"
  # The proxy's CA (and any other extra CA) goes inside, as on a user's corporate network.
  # shellcheck disable=SC2016  # the hook is run by mmdebstrap's sh, which expands $1 and $c
  mmdebstrap --variant=minbase --include=ca-certificates \
    --customize-hook='for c in /usr/local/share/ca-certificates/*.crt; do [ -e "$c" ] && cp "$c" "$1/usr/local/share/ca-certificates/"; done; chroot "$1" update-ca-certificates >/dev/null' \
    bookworm "$tar_file" >&2
  "$DOCKER" import --change 'ENV PIP_BREAK_SYSTEM_PACKAGES=1' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["bash"]' "$tar_file" "$BASE_TAG" >&2
  rm -f "$tar_file"
fi

printf 'export DOCKER_HOST=%q\n' "$DOCKER_HOST"
printf 'export DOCKER_BUILDKIT=0\n'
printf 'export IMAGE_TEST_DOCKER=%q\n' "$DOCKER"
printf 'export IMAGE_TEST_BASE=%q\n' "$BASE_TAG"
printf 'export IMAGE_CI_STATE=%q\n' "$STATE"
