#!/usr/bin/env bash
# Builds llama.cpp (libllama, ggml) and emovec's own hook library from native/, installs them into a cache
# folder outside the clone keyed by llama.cpp version and build options, and prints that folder.
# A second run with the same key only re-checks the build (seconds).
#   EMOVEC_BACKEND=cpu|cuda   (default cpu)
#   EMOVEC_CUDA_ARCH=90a      (CUDA architectures, used when EMOVEC_BACKEND=cuda)
#   EMOVEC_LLAMA_TOOLS=1      also build llama.cpp's llama-batched-bench (peer measurements)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
source "$here/llama-version.env"
CACHE=${EMOVEC_CACHE:-$HOME/.cache/emovec}
BACKEND=${EMOVEC_BACKEND:-cpu}
CUDA_ARCH=${EMOVEC_CUDA_ARCH:-90a}
TOOLS=${EMOVEC_LLAMA_TOOLS:-0}

src=$("$here/llama-source.sh")
case "$BACKEND" in
  cpu)  key="llama-$LLAMA_CPP_COMMIT-cpu";  opts=(-DGGML_CUDA=OFF) ;;
  cuda) key="llama-$LLAMA_CPP_COMMIT-cuda-$CUDA_ARCH"; opts=(-DGGML_CUDA=ON "-DCMAKE_CUDA_ARCHITECTURES=$CUDA_ARCH") ;;
  *) echo "EMOVEC_BACKEND must be cpu or cuda, not '$BACKEND'" >&2; exit 2 ;;
esac
build="$CACHE/build/$key"
prefix="$CACHE/native/$key"
# Maven names the folder it expects; a mismatch means pom.xml and llama-version.env disagree.
if [ -n "${EMOVEC_EXPECT_KEY:-}" ] && [ "$EMOVEC_EXPECT_KEY" != "$key" ]; then
  echo "emovec: pom.xml expects native build '$EMOVEC_EXPECT_KEY' but cmake/ builds '$key': update llama.cpp.commit in pom.xml" >&2
  exit 1
fi
gen=(); command -v ninja >/dev/null && gen=(-G Ninja)
[ -f "$build/CMakeCache.txt" ] && gen=()   # generator is fixed at first configure

echo "emovec: native build $key -> $prefix" >&2
cmake -S "$root/native" -B "$build" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DLLAMA_SOURCE_DIR="$src" -DCMAKE_INSTALL_PREFIX="$prefix" -DEMOVEC_LLAMA_TOOLS="$TOOLS" "${opts[@]}" >&2
cmake --build "$build" -j "$(nproc)" >&2
cmake --install "$build" >/dev/null
echo "$prefix"
