#!/usr/bin/env bash
# Idempotent test environment for @beamline/plugin-docker (Debian 12, run as root, offline except Debian's
# package mirror): installs the Docker engine and a static busybox, starts dockerd without systemd, and
# imports a busybox root filesystem as a real, versioned tag. No registry is needed or contacted.
set -euo pipefail
# Daemons started here must not keep the caller's folder as their working directory: a test checkout
# deleted later leaves them failing on getcwd (slurmrestd died that way mid-suite).
cd /

IMAGE="${BEAMLINE_TEST_IMAGE:-beamline-test/busybox:1.36}"
LOG="${BEAMLINE_DOCKERD_LOG:-/var/log/beamline-dockerd.log}"

log() { printf '[setup-test-env] %s\n' "$*"; }

if [ "$(id -u)" -ne 0 ]; then
  log "must run as root (installs packages, starts dockerd)"; exit 1
fi

missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
[ -x /bin/busybox ] || missing+=(busybox-static)
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Other set-up scripts may hold the dpkg lock: wait for it instead of failing.
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${missing[@]}" >/dev/null
fi

engine_up() { timeout 10 docker info >/dev/null 2>&1; }

start_dockerd() {
  log "starting dockerd $* (log: $LOG)"
  # setsid + nohup: the daemon must outlive this script and the shell that ran it.
  setsid nohup dockerd "$@" >>"$LOG" 2>&1 </dev/null &
  for _ in $(seq 1 60); do
    engine_up && return 0
    kill -0 $! 2>/dev/null || return 1
    sleep 1
  done
  return 1
}

if ! engine_up; then
  log "cgroup filesystem: $(stat -fc %T /sys/fs/cgroup) (cgroup2fs = v2, tmpfs = v1)"
  rm -f /var/run/docker.pid /var/run/docker.sock
  # Inside another container overlay2 or iptables may be unavailable: fall back step by step.
  start_dockerd \
    || { pkill -F /var/run/docker.pid 2>/dev/null || true; sleep 1; rm -f /var/run/docker.pid; start_dockerd --storage-driver=vfs; } \
    || { pkill -F /var/run/docker.pid 2>/dev/null || true; sleep 1; rm -f /var/run/docker.pid; start_dockerd --storage-driver=vfs --iptables=false --ip-masq=false; } \
    || { log "dockerd did not come up; see $LOG"; tail -n 30 "$LOG" || true; exit 1; }
fi
log "engine: $(docker info --format '{{.ServerVersion}} storage={{.Driver}} cgroup={{.CgroupVersion}}')"

if ! docker image inspect "$IMAGE" >/dev/null 2>&1; then
  log "importing $IMAGE from /bin/busybox"
  root="$(mktemp -d)"
  trap 'rm -rf "$root"' EXIT
  mkdir -p "$root/bin" "$root/sbin" "$root/usr/bin" "$root/usr/sbin" "$root/tmp" "$root/etc" \
    "$root/proc" "$root/sys" "$root/dev" "$root/safe_data" "$root/safe_outputs" "$root/scratch"
  chmod 1777 "$root/tmp"
  cp /bin/busybox "$root/bin/busybox"
  chroot "$root" /bin/busybox --install -s
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
  mkdir -p "$root/root"
  tar -C "$root" -c . | docker import - "$IMAGE" >/dev/null
fi
log "test image ready: $IMAGE ($(docker image inspect --format '{{.Id}}' "$IMAGE"))"
