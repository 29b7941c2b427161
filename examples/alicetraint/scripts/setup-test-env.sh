#!/usr/bin/env bash
# Idempotent test environment for the AliceTraINT example (Debian 12, run as root): the coordinator's
# PostgreSQL tests use the test database that plugin-postgres's set-up script creates and starts
# (postgres://beamline:beamline@127.0.0.1:5432/beamline_test); the stages-in-containers tests use the
# Docker engine that plugin-docker's set-up script installs and starts.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bash "$here/../../../packages/plugin-postgres/scripts/setup-test-env.sh"
bash "$here/../../../packages/plugin-docker/scripts/setup-test-env.sh"
