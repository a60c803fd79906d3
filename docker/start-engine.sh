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
# A daemon that stopped without cleaning up leaves its pid files; once the pid is reused by an
# unrelated process, dockerd takes containerd for running, waits on a socket that is gone and
# gives up. A pid file whose process is not that daemon is stale: remove it.
drop_stale_pid() {  # pid-file process-name
    local pid
    pid=$(cat "$1" 2>/dev/null) || return 0
    if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" != "$2" ]; then
        rm -f "$1"
    fi
}
drop_stale_pid /var/run/docker/containerd/containerd.pid containerd
drop_stale_pid /var/run/docker.pid dockerd
nohup dockerd >"$log" 2>&1 &
for _ in $(seq 60); do
    docker info >/dev/null 2>&1 && exit 0
    sleep 1
done
echo "dockerd did not answer within 60 s: see $log" >&2
exit 1
