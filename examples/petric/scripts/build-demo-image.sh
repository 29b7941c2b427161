#!/usr/bin/env bash
# Builds the demo submissions' image without a registry: a root filesystem holding this machine's `node`
# binary, the libraries `ldd` lists for it and scripts/demo-submission.mjs (as /submission/run.mjs), imported with `docker import` as
# petric-demo:<version>. Idempotent: an existing tag is kept.
set -euo pipefail
cd "$(dirname "$0")/.."
TAG="${1:-petric-demo:1.0}"
if docker image inspect "$TAG" >/dev/null 2>&1; then echo "$TAG"; exit 0; fi
node_bin="$(readlink -f "$(command -v node)")"
root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/usr/local/bin" "$root/submission" "$root/tmp" "$root/etc"
chmod 1777 "$root/tmp"
cp "$node_bin" "$root/usr/local/bin/node"
ldd "$node_bin" | grep -o '/[^ ]*' | sort -u | while read -r lib; do
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done
cp scripts/demo-submission.mjs "$root/submission/run.mjs"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
tar -C "$root" -c . | docker import -m 'PETRIC demo submission: node and run.mjs' - "$TAG" >/dev/null
echo "$TAG"
