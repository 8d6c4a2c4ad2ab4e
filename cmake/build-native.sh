#!/usr/bin/env bash
# Builds the native side and prints two lines: the llama.cpp prefix, then libemovec's prefix.
#  1. llama.cpp (libllama, ggml; optionally llama-batched-bench) into a cache folder outside the clone, keyed by
#     llama.cpp version and build options, shared by every clone on the machine;
#  2. libemovec from native/ into this clone's target/native/<key>.
# A second run with the same key only re-checks both builds (seconds).
#   EMOVEC_BACKEND=cpu|cuda   (default cpu)
#   EMOVEC_CUDA_ARCH=90a      (CUDA architectures, used when EMOVEC_BACKEND=cuda)
#   EMOVEC_LLAMA_TOOLS=1      also build llama.cpp's llama-batched-bench (peer measurements)
#   EMOVEC_CACHE=DIR          cache folder (default ~/.cache/emovec)
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
  cpu)  key="llama-$LLAMA_CPP_COMMIT-cpu";  opts=(-DGGML_CUDA=OFF); own_opts=(-DEMOVEC_CUDA=OFF) ;;
  # GGML_NATIVE off: ggml-cpu for any x86-64 with AVX2, not -march=native, so that one CUDA build serves every
  # like GPU machine (tools/device-run.sh carries it to a fresh one); with every layer on the GPU it does little.
  cuda) key="llama-$LLAMA_CPP_COMMIT-cuda-$CUDA_ARCH"; opts=(-DGGML_CUDA=ON "-DCMAKE_CUDA_ARCHITECTURES=$CUDA_ARCH" -DGGML_NATIVE=OFF)
        own_opts=(-DEMOVEC_CUDA=ON "-DCMAKE_CUDA_ARCHITECTURES=$CUDA_ARCH") ;;
  *) echo "EMOVEC_BACKEND must be cpu or cuda, not '$BACKEND'" >&2; exit 2 ;;
esac
# Maven names the folder it expects; a mismatch means pom.xml and llama-version.env disagree.
if [ -n "${EMOVEC_EXPECT_KEY:-}" ] && [ "$EMOVEC_EXPECT_KEY" != "$key" ]; then
  echo "emovec: pom.xml expects native build '$EMOVEC_EXPECT_KEY' but cmake/ builds '$key': update llama.cpp.commit in pom.xml" >&2
  exit 1
fi

gen=(); command -v ninja >/dev/null && gen=(-G Ninja)
configure() {  # configure once; the generator is fixed at the first configure
  local s=$1 b=$2; shift 2
  if [ -f "$b/CMakeCache.txt" ]; then cmake -S "$s" -B "$b" "$@" >&2; else cmake -S "$s" -B "$b" "${gen[@]}" "$@" >&2; fi
}

# 1. llama.cpp, in the cache. The wrapper project is copied there so the build never points into a clone.
wrap="$CACHE/build/$key-project"
build="$CACHE/build/$key"
prefix="$CACHE/native/$key"
mkdir -p "$wrap"
cmp -s "$here/llama/CMakeLists.txt" "$wrap/CMakeLists.txt" || cp "$here/llama/CMakeLists.txt" "$wrap/CMakeLists.txt"
# What else a build depends on, written into the prefix as .emovec-build. A prefix unpacked from an earlier build
# (tools/device-run.sh carries one to the GPU machine, which starts bare each session and would spend ~4 minutes
# rebuilding the same libraries) is used as it is where there is no build folder and this matches: the same
# wrapper project, patches, options and tools; for the CPU build a CPU with the same flags (ggml-cpu is built for the
# machine's own), for the CUDA build a CUDA compiler of the same release (13.0: the code it makes for one
# architecture runs under any 13.x runtime).
fingerprint="cmake=$(sha256sum < "$here/llama/CMakeLists.txt" | cut -c1-16) $(cat "$src/.emovec-verified") opts=$(echo "${opts[*]}" | sha256sum | cut -c1-16) tools=$TOOLS"
if [ "$BACKEND" = cuda ]; then
  fingerprint+=" cuda=$( { nvcc --version || /usr/local/cuda/bin/nvcc --version || true; } 2>/dev/null | grep -o 'release [0-9.]*')"
else
  fingerprint+=" cpu=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null | sha256sum | cut -c1-16)"
fi
if [ ! -d "$build" ] && [ "$(cat "$prefix/.emovec-build" 2>/dev/null)" = "$fingerprint" ]; then
  echo "emovec: llama.cpp $key in $prefix was built before on a like machine: used as it is" >&2
else
  echo "emovec: llama.cpp build $key -> $prefix" >&2
  configure "$wrap" "$build" -DCMAKE_BUILD_TYPE=Release -DLLAMA_SOURCE_DIR="$src" -DCMAKE_INSTALL_PREFIX="$prefix" \
    -DEMOVEC_LLAMA_TOOLS="$TOOLS" "${opts[@]}"
  cmake --build "$build" -j "$(nproc)" >&2
  cmake --install "$build" >/dev/null
  [ "$(cat "$prefix/.emovec-build" 2>/dev/null)" = "$fingerprint" ] || echo "$fingerprint" > "$prefix/.emovec-build"
fi

# 2. libemovec, in this clone.
own="$root/target/native/$key"
echo "emovec: libemovec -> $own" >&2
configure "$root/native" "$root/target/native-build/$key" -DCMAKE_BUILD_TYPE=Release -DLLAMA_PREFIX="$prefix" \
  -DLLAMA_SOURCE_DIR="$src" -DCMAKE_INSTALL_PREFIX="$own" "${own_opts[@]}"
cmake --build "$root/target/native-build/$key" -j "$(nproc)" >&2
cmake --install "$root/target/native-build/$key" >/dev/null
echo "$prefix"
echo "$own"
