#!/usr/bin/env bash
# Idempotent test environment for @beamline/plugin-slurm (Debian 12, run as root, no systemd, offline
# except Debian's package mirror): a one-node Slurm 22.05 (munge, slurmctld, slurmd, slurmrestd with JWT)
# with two partitions and two fake GPUs, plus a second Unix user for the "someone else's job" tests.
#
#   partition main:  default, no limits beyond the node (16 CPUs, 2 GPUs)
#   partition small: MaxTime 10 min, MaxCPUsPerNode 2, MaxMemPerNode 1024 MiB
#   slurmrestd:      http://127.0.0.1:6820 and unix:/run/slurmrestd/slurmrestd.socket, JWT
#                    (tokens: scontrol token username=U)
#
# The node declares 16 CPUs on a smaller machine (SlurmdParameters=config_overrides) so that tests and the
# bench can run several one-CPU jobs side by side. GPUs are character devices aliasing /dev/null: Slurm
# hands their ids out (CUDA_VISIBLE_DEVICES), nothing can compute on them. Memory limits are enforced by
# polling (jobacct_gather/linux, OverMemoryKill): there are no cgroups without systemd.
set -euo pipefail
# Daemons started here must not keep the caller's folder as their working directory: a test checkout
# deleted later leaves them failing on getcwd (slurmrestd died that way mid-suite).
cd /

REST_PORT="${BEAMLINE_SLURMRESTD_PORT:-6820}"
REST_SOCKET=/run/slurmrestd/slurmrestd.socket
REST_USER=slurmrestd
OTHER_USER="${BEAMLINE_SLURM_OTHER_USER:-beamline-other}"
STATE=/var/lib/slurm/slurmctld
SPOOL=/var/lib/slurm/slurmd
GPU_DIR=/var/lib/beamline-slurm/dev
LOGS=/var/log/slurm
CONF=/etc/slurm/slurm.conf

log() { printf '[setup-test-env] %s\n' "$*"; }

if [ "$(id -u)" -ne 0 ]; then
  log "must run as root (installs packages, starts munged, slurmctld, slurmd, slurmrestd)"; exit 1
fi

missing=()
for pair in munged:munge sbatch:slurm-client slurmctld:slurmctld slurmd:slurmd slurmrestd:slurmrestd; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
done
[ -f /usr/lib/x86_64-linux-gnu/slurm-wlm/auth_jwt.so ] || missing+=(slurm-wlm-jwt-plugin)
[ -f /usr/lib/x86_64-linux-gnu/slurm-wlm/select_cons_tres.so ] || missing+=(slurm-wlm-basic-plugins)
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Other set-up scripts may hold the dpkg lock: wait for it instead of failing.
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends munge slurm-client slurmctld \
    slurmd slurmrestd slurm-wlm-basic-plugins slurm-wlm-jwt-plugin >/dev/null
fi

# Users: slurmrestd refuses to run as root or SlurmUser; the second user submits "someone else's" jobs.
id "$REST_USER" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$REST_USER"
id "$OTHER_USER" >/dev/null 2>&1 || useradd --create-home --shell /bin/bash "$OTHER_USER"

node="$(hostname -s)"
mem_mb=$(( $(awk '/^MemTotal:/ { print $2 }' /proc/meminfo) / 1024 ))
real_mem=$(( mem_mb > 4096 ? mem_mb - 2048 : mem_mb * 3 / 4 ))

mkdir -p "$STATE" "$SPOOL" "$LOGS" /run/slurm "$GPU_DIR" /run/munge
chown slurm:slurm "$STATE" "$LOGS" /run/slurm
chmod 0755 /run/slurm "$LOGS"

for i in 0 1; do
  [ -c "$GPU_DIR/nvidia$i" ] || { rm -f "$GPU_DIR/nvidia$i"; mknod "$GPU_DIR/nvidia$i" c 1 3; chmod 0666 "$GPU_DIR/nvidia$i"; }
done

if [ ! -s "$STATE/jwt_hs256.key" ]; then
  head -c 32 /dev/urandom >"$STATE/jwt_hs256.key"
fi
chown slurm:slurm "$STATE/jwt_hs256.key"
chmod 0600 "$STATE/jwt_hs256.key"

desired="$(mktemp)"
trap 'rm -f "$desired"' EXIT
cat >"$desired" <<CONF
# Written by packages/plugin-slurm/scripts/setup-test-env.sh: a one-node test cluster without systemd.
ClusterName=beamline
SlurmctldHost=$node
SlurmUser=slurm
SlurmdUser=root
AuthType=auth/munge
AuthAltTypes=auth/jwt
AuthAltParameters=jwt_key=$STATE/jwt_hs256.key
StateSaveLocation=$STATE
SlurmdSpoolDir=$SPOOL
SlurmctldPidFile=/run/slurm/slurmctld.pid
SlurmdPidFile=/run/slurm/slurmd.pid
SlurmctldLogFile=$LOGS/slurmctld.log
SlurmdLogFile=$LOGS/slurmd.log
ProctrackType=proctrack/pgid
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=task=1
JobAcctGatherParams=OverMemoryKill
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0
MpiDefault=none
ReturnToService=2
SlurmdParameters=config_overrides
GresTypes=gpu
KillWait=5
MinJobAge=600
NodeName=$node CPUs=16 Boards=1 SocketsPerBoard=1 CoresPerSocket=16 ThreadsPerCore=1 RealMemory=$real_mem Gres=gpu:2 State=UNKNOWN
PartitionName=main Nodes=$node Default=YES MaxTime=INFINITE DefMemPerCPU=256 State=UP
PartitionName=small Nodes=$node MaxTime=00:10:00 MaxCPUsPerNode=2 MaxMemPerNode=1024 DefMemPerCPU=256 State=UP
CONF
changed=0
if ! cmp -s "$desired" "$CONF"; then
  install -m 0644 "$desired" "$CONF"
  changed=1
fi
gres="Name=gpu File=$GPU_DIR/nvidia[0-1]"
if [ "$(cat /etc/slurm/gres.conf 2>/dev/null)" != "$gres" ]; then
  printf '%s\n' "$gres" >/etc/slurm/gres.conf
  changed=1
fi

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
stop_pidfile() {
  if alive "$1"; then
    local pid; pid="$(cat "$1")"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
}

# munge
chown munge:munge /run/munge
if ! alive /run/munge/munged.pid; then
  log "starting munged"
  rm -f /run/munge/munged.pid
  runuser -u munge -- /usr/sbin/munged
fi

if [ "$changed" = 1 ]; then
  log "configuration changed: (re)starting the daemons"
  stop_pidfile /run/slurm/slurmrestd.pid
  stop_pidfile /run/slurm/slurmd.pid
  stop_pidfile /run/slurm/slurmctld.pid
fi

if ! alive /run/slurm/slurmctld.pid; then
  log "starting slurmctld (log: $LOGS/slurmctld.log)"
  /usr/sbin/slurmctld
fi
if ! alive /run/slurm/slurmd.pid; then
  log "starting slurmd (log: $LOGS/slurmd.log)"
  /usr/sbin/slurmd
fi

rest_up() { [ -S "$REST_SOCKET" ] && curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$REST_PORT/openapi/v3"; }
if ! alive /run/slurm/slurmrestd.pid || ! rest_up; then
  stop_pidfile /run/slurm/slurmrestd.pid
  # The pid file holds the session leader (runuser), whose child is slurmrestd: stop the whole session.
  pkill -9 -x -u "$REST_USER" slurmrestd 2>/dev/null || true
  log "starting slurmrestd on 127.0.0.1:$REST_PORT and $REST_SOCKET (log: $LOGS/slurmrestd.log)"
  mkdir -p "$(dirname "$REST_SOCKET")"
  chown "$REST_USER" "$(dirname "$REST_SOCKET")"
  rm -f "$REST_SOCKET"
  setsid env SLURM_JWT=daemon runuser -u "$REST_USER" -- /usr/sbin/slurmrestd -a rest_auth/jwt \
    -s openapi/v0.0.38,openapi/v0.0.37,openapi/v0.0.36 "127.0.0.1:$REST_PORT" "unix:$REST_SOCKET" \
    >>"$LOGS/slurmrestd.log" 2>&1 </dev/null &
  echo $! >/run/slurm/slurmrestd.pid
fi

for _ in $(seq 1 100); do
  if rest_up && sinfo -h -N -o '%t' 2>/dev/null | grep -qE '^(idle|mix|alloc)'; then
    log "slurm ready: $(sinfo -h -o '%P %a %D %t' | tr '\n' ';') slurmrestd on :$REST_PORT"
    exit 0
  fi
  # A node that came back from a restart may need to be resumed.
  if sinfo -h -N -o '%t' 2>/dev/null | grep -qE '^(down|drain)'; then
    scontrol update nodename="$node" state=resume 2>/dev/null || true
  fi
  sleep 0.2
done
log "slurm did not come up"
tail -n 20 "$LOGS/slurmctld.log" "$LOGS/slurmd.log" "$LOGS/slurmrestd.log" 2>/dev/null || true
sinfo -N -l 2>&1 || true
exit 1
