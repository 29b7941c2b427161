#!/usr/bin/env bash
# The whole test suite on a fresh Debian 12 machine: installs npm dependencies, installs and starts the
# services the integration tests need (when run as root), type-checks, lints, runs every workspace's
# tests (unit and integration), and ends with one line: "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
source scripts/quiet-tools.sh
bash scripts/install-deps.sh || { echo "npm install failed"; echo "0 passed, 1 failed"; exit 1; }

if [ "$(id -u)" = 0 ]; then
  for setup in packages/*/scripts/setup-test-env.sh examples/*/scripts/setup-test-env.sh; do
    [ -f "$setup" ] || continue
    echo "== setting up: $setup"
    bash "$setup" || { echo "set-up failed: $setup"; echo "0 passed, 1 failed"; exit 1; }
  done
else
  echo "Not root: skipping service set-up (integration tests will skip, or fail under CI=true)."
fi

failed_steps=0
echo "== typecheck, lint, build"
npx turbo run typecheck lint build --continue --output-logs=errors-only || failed_steps=$((failed_steps + 1))

reports="$root/.test-reports"
rm -rf "$reports" && mkdir -p "$reports"
# Repository checks (formatting outside the packages, knip, import cycles, publint, attw) beside the tests.
bash scripts/check-packages.sh >"$reports/check-packages.log" 2>&1 &
checks=$!
# Workspaces' suites run side by side (two lanes on this project's 2-core machines; BEAMLINE_TEST_LANES
# to change), each into its own log, printed whole when it ends. The ones that mostly wait on
# daemons (Slurm's scheduler tick, Docker) start first.
run_suite() {
  local dir=$1 name
  name=$(basename "$dir")
  local started=$SECONDS
  # Suites on the shared PostgreSQL cluster run one at a time: one of them restarts it.
  local serial=()
  grep -qE '"(pg|@beamline/plugin-postgres)"' "$dir/package.json" && serial=(flock "$reports/postgres.lock")
  (cd "$dir" && BEAMLINE_TEST_REPORT="$reports/$name.json" "${serial[@]}" npx vitest run) >"$reports/$name.log" 2>&1
  { echo "== tests: $dir ($((SECONDS - started)) s)"; cat "$reports/$name.log"; } | flock "$reports" cat
}
export -f run_suite
export reports
suites=()
for dir in packages/plugin-slurm packages/plugin-docker packages/* examples/*; do
  [ -f "$dir/vitest.config.ts" ] || continue
  [[ " ${suites[*]} " == *" $dir "* ]] || suites+=("$dir")
done
printf '%s\n' "${suites[@]}" | xargs -P "${BEAMLINE_TEST_LANES:-2}" -I{} bash -c 'run_suite "$1"' _ {}
for dir in "${suites[@]}"; do
  [ -f "$reports/$(basename "$dir").json" ] || { echo "no test report from $dir"; failed_steps=$((failed_steps + 1)); }
done

echo "== repository checks (formatting outside the packages, knip, import cycles, publint, attw)"
wait "$checks" || failed_steps=$((failed_steps + 1))
cat "$reports/check-packages.log"

node scripts/summarize-tests.mjs "$reports" "$failed_steps"
