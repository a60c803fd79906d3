#!/usr/bin/env bash
# Start Debian's dockerd in the background (root only) and wait until it answers. `make engine`
# runs this only when no engine answers; the daemon keeps running for later builds (its image and
# layer cache is what makes the next build fast).
set -euo pipefail
if [ "$(id -u)" != 0 ]; then
    echo "no Docker engine answers and starting one needs root: start dockerd, or run as root" >&2
    exit 1
fi
command -v dockerd >/dev/null || { echo "dockerd is not installed: apt-get install docker.io" >&2; exit 1; }
log=${DOCKERD_LOG:-/var/log/brewlake-dockerd.log}
nohup dockerd >"$log" 2>&1 &
for _ in $(seq 60); do
    docker info >/dev/null 2>&1 && exit 0
    sleep 1
done
echo "dockerd did not answer within 60 s: see $log" >&2
exit 1
