#!/usr/bin/env bash
# Idempotent test environment for examples/petric (Debian 12, root, offline except the package mirrors):
# TensorBoard's Python package from the local pip mirror, so the tests read the event files with
# TensorBoard's own EventAccumulator; Debian's Chromium for the leaderboard page test. The Docker engine and
# the busybox image come from packages/plugin-docker/scripts/setup-test-env.sh (test-all.sh runs it
# first). Fast on a re-run (nothing is installed twice).
set -euo pipefail

PYTHON="${PETRIC_PYTHON:-python3}"
log() { printf '[petric setup-test-env] %s\n' "$*"; }

missing=()
command -v "$PYTHON" >/dev/null 2>&1 || missing+=(python3 python3-pip)
[ -x /usr/bin/chromium ] || missing+=(chromium)
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${missing[@]}" >/dev/null
fi

if ! "$PYTHON" -c 'import tensorboard.backend.event_processing.event_accumulator' >/dev/null 2>&1; then
  log "installing tensorboard with $PYTHON -m pip"
  # Debian's own python3 refuses system-wide pip installs unless told otherwise (PEP 668).
  "$PYTHON" -m pip install -q tensorboard 2>/dev/null \
    || "$PYTHON" -m pip install -q --break-system-packages tensorboard
fi
log "tensorboard $("$PYTHON" -c 'import tensorboard; print(tensorboard.__version__)') ready"
