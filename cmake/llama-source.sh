#!/usr/bin/env bash
# Prints the directory of llama.cpp's source, fetching it first if needed.
# The source comes from the npm package node-llama-cpp (its llama/gitRelease.bundle is a git bundle of
# llama.cpp), verified by the tarball's sha256. Nothing of llama.cpp is ever committed to emovec.
# EMOVEC_LLAMA_SRC=DIR uses an existing checkout instead (the GPU machine has no network).
set -euo pipefail
source "$(dirname "$0")/llama-version.env"
CACHE=${EMOVEC_CACHE:-$HOME/.cache/emovec}

if [ -n "${EMOVEC_LLAMA_SRC:-}" ]; then
  [ -f "$EMOVEC_LLAMA_SRC/include/llama.h" ] || { echo "EMOVEC_LLAMA_SRC=$EMOVEC_LLAMA_SRC has no include/llama.h" >&2; exit 1; }
  echo "$EMOVEC_LLAMA_SRC"; exit 0
fi

SRC="$CACHE/src/llama.cpp-$NODE_LLAMA_CPP_VERSION"
if [ -f "$SRC/.emovec-verified" ]; then echo "$SRC"; exit 0; fi

mkdir -p "$CACHE/src"
tmp=$(mktemp -d "$CACHE/src/.fetch.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
echo "emovec: fetching llama.cpp from npm package node-llama-cpp@$NODE_LLAMA_CPP_VERSION" >&2
(cd "$tmp" && npm pack --silent "node-llama-cpp@$NODE_LLAMA_CPP_VERSION" >/dev/null)
tarball="$tmp/node-llama-cpp-$NODE_LLAMA_CPP_VERSION.tgz"
actual=$(sha256sum "$tarball" | cut -d' ' -f1)
if [ "$actual" != "$NODE_LLAMA_CPP_SHA256" ]; then
  echo "emovec: checksum mismatch for node-llama-cpp@$NODE_LLAMA_CPP_VERSION: got $actual, want $NODE_LLAMA_CPP_SHA256" >&2
  exit 1
fi
tar -xzf "$tarball" -C "$tmp" package/llama/gitRelease.bundle
git clone -q "$tmp/package/llama/gitRelease.bundle" "$tmp/llama.cpp" 2>/dev/null
head=$(git -C "$tmp/llama.cpp" rev-parse --short=7 HEAD)
[ "$head" = "$LLAMA_CPP_COMMIT" ] || { echo "emovec: bundle holds llama.cpp $head, expected $LLAMA_CPP_COMMIT" >&2; exit 1; }
rm -rf "$tmp/llama.cpp/.git"
touch "$tmp/llama.cpp/.emovec-verified"
rm -rf "$SRC"
mv "$tmp/llama.cpp" "$SRC"
echo "$SRC"
