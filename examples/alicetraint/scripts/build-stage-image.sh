#!/usr/bin/env bash
# Builds an image for the stand-in stages without a registry (as examples/petric's demo image): a root
# filesystem holding only this machine's `node` (as /usr/local/bin/node) and the libraries `ldd` lists
# for it, imported with `docker import`. The stages' scripts are mounted, not copied. Usage:
#   scripts/build-stage-image.sh [TAG]   (default alicetraint-standin:1.0; an existing tag is kept)
set -euo pipefail
TAG="${1:-alicetraint-standin:1.0}"
if docker image inspect "$TAG" >/dev/null 2>&1; then echo "$TAG"; exit 0; fi
node_bin="$(readlink -f "$(command -v node)")"
root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT
install -D -m 755 "$node_bin" "$root/usr/local/bin/node"
for lib in $(ldd "$node_bin" | grep -o '/[^ ]*' | sort -u); do cp -L --parents "$lib" "$root"; done
install -d -m 1777 "$root/tmp"
tar -C "$root" -c . | docker import -m 'AliceTraINT stand-in stages: node' - "$TAG" >/dev/null
echo "$TAG"
