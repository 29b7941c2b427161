#!/usr/bin/env bash
# Repository hygiene, run by the test command after the build: formatting of the files outside the
# packages, unused files, exports and dependencies (knip), import cycles (dpdm, runtime imports only),
# and each published package as npm would ship it (publint, and @arethetypeswrong/cli on the tarball). Prints what fails; exit 1 if anything does.
set -uo pipefail
cd "$(dirname "$0")/.."
export TURBO_TELEMETRY_DISABLED=1 DO_NOT_TRACK=1
failed=0
check() {
  local name=$1
  shift
  local output
  if output=$("$@" 2>&1); then
    echo "ok: $name"
  else
    echo "FAILED: $name"
    echo "$output" | tail -40
    failed=1
  fi
}

check "prettier (files outside the packages, which check their own in lint)" npx prettier --check '*.{json,md,ts,js,mjs}' docs scripts examples
check "knip (unused files, exports, dependencies)" npx knip --no-progress
for dir in packages/*/; do
  [ -f "$dir/package.json" ] || continue
  [ "$(node -p "require('./$dir/package.json').private === true")" = true ] && continue
  check "import cycles in $dir" npx dpdm --no-warning --no-tree --transform --exit-code circular:1 "$dir/src/index.ts"
  check "publint $dir" npx publint --strict "$dir"
  check "attw $dir" bash -c "cd '$dir' && npx attw --pack . --profile esm-only --format table-flipped"
done
exit $failed
