#!/usr/bin/env bash
# Installs the workspace's npm dependencies when they are missing or older than the lock file, and makes
# sure node_modules/.bin/beamline is the program's bin.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/quiet-tools.sh
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  # `npm install`, not `npm ci`: npm 11 leaves other platforms' optional packages (turbo's) out of the lock
  # file and `npm ci` then refuses it; `npm install` still installs the locked versions.
  # onnxruntime-node (a later plugin) would download CUDA libraries from outside; the CPU provider ships in the package.
  ONNXRUNTIME_NODE_INSTALL=skip npm install --no-audit --no-fund
fi
# A checkout installed when the bin still pointed into the build keeps a dangling or stale link, which
# `npm install` does not redo; relinking is cheap.
bin=packages/cli/bin/beamline.js
if [ ! -e node_modules/.bin/beamline ] || [ "$(readlink -f node_modules/.bin/beamline)" != "$(readlink -f "$bin")" ]; then
  npm rebuild beamline --ignore-scripts >/dev/null
fi
