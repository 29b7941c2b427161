#!/usr/bin/env bash
# Test environment for @beamline/plugin-webdav (Debian 12, run as root, offline except Debian's mirror).
# Idempotent and fast on a re-run: installs only what is missing. Starts no daemons: every peer (Apache
# mod_dav, nginx) and the plugin's own server are started by the tests and the benchmark themselves, on
# loopback ports with generated configs in temporary folders, and stopped by them.
# Each part is one function; the package's helpers each own theirs.
set -euo pipefail

log() { printf '[plugin-webdav setup] %s\n' "$*"; }

apt_install() {
  if [ "$(id -u)" -ne 0 ]; then
    log "missing $*; run this script as root (apt-get install -y $*)" >&2
    return 1
  fi
  log "installing $*"
  export DEBIAN_FRONTEND=noninteractive
  # The package scripts of apache2 and nginx would start system services; there is no systemd here and
  # the tests start their own instances, so keep invoke-rc.d from starting anything while we install.
  local made_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    made_policy=1
  fi
  # Other set-up scripts may hold the dpkg lock: wait for it instead of failing.
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "$@" >/dev/null
  if [ "$made_policy" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
}

# --- clients and peers (test/clients, test/support/peers, bench) ----------------------------------
# WebDAV clients the client tests drive (litmus, cadaver, rclone, davfs2, headless Chromium through
# playwright-core), the reference servers they are validated against and the benchmark compares with
# (Apache mod_dav, nginx with dav-ext), and the load generator of the benchmark (wrk).
setup_clients_and_peers() {
  local need=()
  command -v litmus >/dev/null 2>&1 || need+=(litmus)
  command -v cadaver >/dev/null 2>&1 || need+=(cadaver)
  command -v rclone >/dev/null 2>&1 || need+=(rclone)
  command -v mount.davfs >/dev/null 2>&1 || need+=(davfs2)
  command -v apache2 >/dev/null 2>&1 || [ -x /usr/sbin/apache2 ] || need+=(apache2)
  command -v htpasswd >/dev/null 2>&1 || need+=(apache2-utils)
  command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx)
  [ -f /usr/lib/nginx/modules/ngx_http_dav_ext_module.so ] || need+=(libnginx-mod-http-dav-ext)
  [ -x /usr/bin/chromium ] || need+=(chromium)
  command -v wrk >/dev/null 2>&1 || need+=(wrk)
  command -v curl >/dev/null 2>&1 || need+=(curl)
  if [ "${#need[@]}" -gt 0 ]; then apt_install "${need[@]}"; fi

  # The Debian packages start system instances where they can; the tests never use them.
  if [ -f /run/apache2/apache2.pid ] && kill -0 "$(cat /run/apache2/apache2.pid)" 2>/dev/null; then
    apache2ctl stop >/dev/null 2>&1 || true
  fi

  ver() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo '?'; }
  local fuse="no /dev/fuse: the davfs2 mount test will skip"
  [ -c /dev/fuse ] && fuse="/dev/fuse present"
  log "clients and peers ready: litmus $(ver litmus), cadaver $(ver cadaver), rclone $(ver rclone), davfs2 $(ver davfs2), apache2 $(ver apache2), nginx $(ver nginx), chromium $(ver chromium), wrk $(ver wrk); ${fuse}"
}

setup_clients_and_peers
