#!/usr/bin/env bash
# Installs what the plugin-grid integration tests and benchmarks need (Debian 12, run as root; the
# blackhole test also needs root to run).
# Idempotent: installs only what is missing. Starts no daemons: each integration test starts its own
# nginx and xrootd instances on free loopback ports (generated configs in a temp dir) and stops them.
set -euo pipefail

need=()
command -v nginx >/dev/null 2>&1 || need+=(nginx)
command -v xrootd >/dev/null 2>&1 || need+=(xrootd-server)
command -v xrdcp >/dev/null 2>&1 || need+=(xrootd-client)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v aria2c >/dev/null 2>&1 || need+=(aria2)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
# The blackhole test (src/transport/http1/blackhole.int.test.ts) builds a network namespace of its own.
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v iptables >/dev/null 2>&1 || need+=(iptables)
# XrdHttp (the HTTP interface of xrootd) lives in the server plugins package on Debian.
if ! compgen -G '/usr/lib/*/libXrdHttp-5.so' >/dev/null; then
  need+=(xrootd-server-plugins)
fi

if [ "${#need[@]}" -eq 0 ]; then
  echo "plugin-grid test environment: everything present"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "plugin-grid: missing ${need[*]}; run this script as root (apt-get install -y ${need[*]})" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# policy-rc.d keeps the package scripts from trying to start services (no systemd here; tests start their own).
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get install -y --no-install-recommends "${need[@]}"

# The Debian nginx package starts a default server on :80 where it can; the tests never use it.
if [ -f /run/nginx.pid ] && kill -0 "$(cat /run/nginx.pid)" 2>/dev/null; then
  nginx -s stop || true
fi
echo "plugin-grid test environment ready: $(nginx -v 2>&1), $(xrootd -v 2>&1 | head -n1), $(aria2c --version | head -n1)"
