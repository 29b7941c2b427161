#!/usr/bin/env bash
# Idempotent test environment for the AliceTraINT example (Debian 12, run as root): the coordinator's
# PostgreSQL tests use the test database that plugin-postgres's set-up script creates and starts
# (postgres://beamline:beamline@127.0.0.1:5432/beamline_test). Everything else needs no service.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec bash "$here/../../../packages/plugin-postgres/scripts/setup-test-env.sh"
