#!/usr/bin/env bash
# Idempotent test environment for @beamline/plugin-postgres (Debian 12, run as root, no systemd): PostgreSQL
# 15 from Debian, cluster 15/main started with pg_ctlcluster (no systemd), listening on its Unix socket
# (/var/run/postgresql) and on loopback, with a password role and a database for the tests:
#
#   postgres://beamline:beamline@127.0.0.1:5432/beamline_test   (BEAMLINE_TEST_POSTGRES_URL)
#
# Every test works in a schema of its own, so the database is shared by all test files and re-runs.
set -euo pipefail
# Daemons started here must not keep the caller's folder as their working directory: a test checkout
# deleted later leaves them failing on getcwd (slurmrestd died that way mid-suite).
cd /

VERSION=15
CLUSTER=main
PORT="${BEAMLINE_POSTGRES_PORT:-5432}"
ROLE=beamline
PASSWORD=beamline
DATABASE=beamline_test

log() { printf '[setup-test-env] %s\n' "$*"; }

if [ "$(id -u)" -ne 0 ]; then
  log "must run as root (installs postgresql, starts the cluster)"; exit 1
fi

if ! command -v pg_ctlcluster >/dev/null 2>&1 || [ ! -x "/usr/lib/postgresql/$VERSION/bin/postgres" ]; then
  log "installing postgresql"
  export DEBIAN_FRONTEND=noninteractive
  # Other set-up scripts may hold the dpkg lock: wait for it instead of failing.
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends postgresql >/dev/null
fi

if ! pg_lsclusters -h | awk '{ print $1 "/" $2 }' | grep -qx "$VERSION/$CLUSTER"; then
  log "creating cluster $VERSION/$CLUSTER"
  pg_createcluster "$VERSION" "$CLUSTER" --port "$PORT" >/dev/null
fi

# The socket folder lives on a tmpfs that a container start empties.
install -d -o postgres -g postgres -m 2775 /var/run/postgresql

conf_dir="/etc/postgresql/$VERSION/$CLUSTER/conf.d"
install -d -o postgres -g postgres "$conf_dir"
# Listening on every address: the tests put workers in network namespaces of their own that reach the
# server over a veth pair (10.231.0.0/16); pg_hba.conf admits loopback and that range only.
conf="$(cat <<CONF
# Written by packages/plugin-postgres/scripts/setup-test-env.sh
listen_addresses = '*'
port = $PORT
max_connections = 200
fsync = on
synchronous_commit = on
CONF
)"
conf_changed=0
if [ "$(cat "$conf_dir/beamline-test.conf" 2>/dev/null)" != "$conf" ]; then
  printf '%s\n' "$conf" > "$conf_dir/beamline-test.conf"
  chown postgres:postgres "$conf_dir/beamline-test.conf"
  conf_changed=1
fi

# The test role logs in with its password on the Unix socket too (Debian's default there is peer).
hba="/etc/postgresql/$VERSION/$CLUSTER/pg_hba.conf"
for hba_line in "local $DATABASE $ROLE scram-sha-256" "host $DATABASE $ROLE 10.231.0.0/16 scram-sha-256"; do
  if ! grep -qxF "$hba_line" "$hba"; then
    { printf '# Written by packages/plugin-postgres/scripts/setup-test-env.sh\n%s\n' "$hba_line"; cat "$hba"; } > "$hba.new"
    chown postgres:postgres "$hba.new"; chmod 640 "$hba.new"; mv "$hba.new" "$hba"
  fi
done

status="$(pg_lsclusters -h | awk -v v="$VERSION" -v c="$CLUSTER" '$1 == v && $2 == c { print $4 }')"
if [ "$status" != "online" ]; then
  log "starting cluster $VERSION/$CLUSTER"
  pg_ctlcluster "$VERSION" "$CLUSTER" start
elif [ "$conf_changed" = 1 ]; then
  # listen_addresses takes a restart.
  log "restarting cluster $VERSION/$CLUSTER for its new configuration"
  pg_ctlcluster "$VERSION" "$CLUSTER" restart
else
  pg_ctlcluster "$VERSION" "$CLUSTER" reload >/dev/null
fi

for _ in $(seq 1 60); do
  su postgres -c "psql -qAtX -c 'select 1'" >/dev/null 2>&1 && break
  sleep 0.5
done

su postgres -c "psql -qAtX -v ON_ERROR_STOP=1" <<SQL >/dev/null
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$ROLE') THEN
    CREATE ROLE $ROLE LOGIN PASSWORD '$PASSWORD';
  END IF;
END \$\$;
ALTER ROLE $ROLE LOGIN PASSWORD '$PASSWORD';
SQL
if [ "$(su postgres -c "psql -qAtX -c \"select 1 from pg_database where datname = '$DATABASE'\"")" != "1" ]; then
  su postgres -c "createdb -O $ROLE $DATABASE"
fi

log "postgresql $VERSION ready: postgres://$ROLE:***@127.0.0.1:$PORT/$DATABASE and /var/run/postgresql"
