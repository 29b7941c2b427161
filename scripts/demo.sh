#!/usr/bin/env bash
# The demo on embedded defaults (SQLite store, local runner): installs, builds, and runs the example
# pipeline. Run it twice: the second run serves every step from the cache. Afterwards `npx beamline`
# works from the repository (see the README).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/quiet-tools.sh
bash scripts/install-deps.sh
npx turbo run build --output-logs=errors-only >/dev/null
cd examples/train-eval
exec node demo.mjs "$@"
