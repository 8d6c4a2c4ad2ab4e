#!/usr/bin/env bash
# Prints the directory of llama.cpp's source, fetching it first if needed.
# The source comes from the npm package node-llama-cpp (its llama/gitRelease.bundle is a git bundle of
# llama.cpp), verified by the tarball's sha256, with emovec's patches (cmake/llama/patches/) applied. Nothing of
# llama.cpp is ever committed to emovec. The tree's .emovec-verified names the patches: a tree patched otherwise
# is fetched again.
# EMOVEC_LLAMA_SRC=DIR uses an existing tree instead (the GPU machine has no network): one this script made.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/llama-version.env"
CACHE=${EMOVEC_CACHE:-$HOME/.cache/emovec}
shopt -s nullglob
patches=("$here"/llama/patches/*.patch)
stamp="patches=$( ((${#patches[@]})) && cat "${patches[@]}" | sha256sum | cut -c1-16 || echo none)"

if [ -n "${EMOVEC_LLAMA_SRC:-}" ]; then
  [ -f "$EMOVEC_LLAMA_SRC/include/llama.h" ] || { echo "EMOVEC_LLAMA_SRC=$EMOVEC_LLAMA_SRC has no include/llama.h" >&2; exit 1; }
  [ "$(cat "$EMOVEC_LLAMA_SRC/.emovec-verified" 2>/dev/null)" = "$stamp" ] \
    || { echo "EMOVEC_LLAMA_SRC=$EMOVEC_LLAMA_SRC lacks emovec's current patches ($stamp): make it again (tools/device-bundle.sh)" >&2; exit 1; }
  echo "$EMOVEC_LLAMA_SRC"; exit 0
fi

SRC="$CACHE/src/llama.cpp-$NODE_LLAMA_CPP_VERSION"
if [ "$(cat "$SRC/.emovec-verified" 2>/dev/null)" = "$stamp" ]; then echo "$SRC"; exit 0; fi

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
for p in "${patches[@]}"; do   # (while the clone is a repository: git apply then patches its own tree)
  git -C "$tmp/llama.cpp" apply "$p" || { echo "emovec: $p does not apply to llama.cpp $LLAMA_CPP_COMMIT" >&2; exit 1; }
done
rm -rf "$tmp/llama.cpp/.git"
echo "$stamp" > "$tmp/llama.cpp/.emovec-verified"
rm -rf "$SRC"
mv "$tmp/llama.cpp" "$SRC"
echo "$SRC"
