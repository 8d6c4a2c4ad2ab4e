#!/usr/bin/env bash
# Prepares .device/ (git-ignored) for the GPU machine, which has no Java and no network:
#   jre.tar.xz        a jlink'd Java runtime with just the modules emovec uses
#   llama-src.tar.xz  llama.cpp's source, trimmed to what libllama, ggml (CPU+CUDA) and llama-batched-bench need
#   emovec.jar        the CLI jar (its JNI glue links to libllama by soname, so the CUDA build there loads under it)
#   libasyncProfiler.so  a CPU profiler for the JVM and its native code (device-run.sh job profile)
# and, in .device-prebuilt/ (optional; with .device/ it is more than one call carries: see tools/device-run.sh):
#   llama-<commit>-cuda-90a.tar.xz.part-*  llama.cpp's CUDA build, which a fresh GPU machine then unpacks instead of
#                     building it (~4 of its 30 minutes): built here with PREBUILD_CUDA=1 (a CUDA 13.0 compiler from
#                     NVIDIA's pip wheels, tools/cuda-toolkit; ~45 minutes on 2 cores, once), or returned by
#                     device-run.sh after it built there and copied here
#   tiny-q4_k_m.gguf  the tiny model (16 MB), on which device-run.sh unpack checks that the build runs there
# Then name .device in the device tool's carry list and run tools/device-run.sh there.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
mkdir -p .device
mvn -B -q install -DskipTests
cp java/cli/target/emovec.jar .device/emovec.jar

if [ ! -f .device/jre.tar.xz ]; then
  modules=$(jdeps --print-module-deps --ignore-missing-deps .device/emovec.jar)
  rm -rf /tmp/emovec-jre
  # uncompressed modules, then xz: 17 MB where jlink's own zip compression gave 28 (the tree travels in 64 MiB)
  jlink --add-modules "$modules,jdk.crypto.ec" --strip-debug --no-man-pages --no-header-files --compress=0 --output /tmp/emovec-jre
  tar -C /tmp -cf - emovec-jre | xz -9e -T0 > .device/jre.tar.xz
fi

# async-profiler (Maven Central), for tools/device-run.sh's job profile: where the host's time goes, Java and native
if [ ! -f .device/libasyncProfiler.so ]; then
  mvn -B -q dependency:copy -Dartifact=tools.profiler:async-profiler:4.2:jar:linux-x64 -DoutputDirectory=/tmp/emovec-ap
  unzip -o -j -q /tmp/emovec-ap/async-profiler-4.2-linux-x64.jar linux-x64/libasyncProfiler.so -d .device
fi

src=$(bash cmake/llama-source.sh)
tar -C "$(dirname "$src")" -cJf .device/llama-src.tar.xz \
  --exclude='.git' --exclude='*/docs' --exclude='*/examples' --exclude='*/tests' --exclude='*/media' \
  --exclude='*/gguf-py' --exclude='*/app' --exclude='*/scripts' --exclude='*/pocs' --exclude='*/benches' \
  --exclude='*/models/*.gguf*' --exclude='*/ggml/src/ggml-vulkan' --exclude='*/ggml/src/ggml-sycl' \
  --exclude='*/ggml/src/ggml-metal' --exclude='*/ggml/src/ggml-cann' --exclude='*/ggml/src/ggml-opencl' \
  --exclude='*/ggml/src/ggml-webgpu' --exclude='*/ggml/src/ggml-musa' --exclude='*/ggml/src/ggml-hip' \
  --exclude='*/ggml/src/ggml-openvino' --exclude='*/ggml/src/ggml-zdnn' --exclude='*/tools/server/public*' \
  --exclude='*/tools/server/webui' --exclude='*/tools/mtmd' \
  "$(basename "$src")"
if [ "${PREBUILD_CUDA:-0}" = 1 ]; then
  cuda=$(bash tools/cuda-toolkit/from-wheels.sh)
  # LDFLAGS: llama-batched-bench's link looks for libggml-cuda's own libraries, which no system folder holds here
  prefix=$(PATH="$cuda/bin:$PATH" CUDAToolkit_ROOT=$cuda CUDACXX=$cuda/bin/nvcc LDFLAGS="-Wl,-rpath-link,$cuda/lib64:$cuda/lib64/stubs" \
    EMOVEC_BACKEND=cuda EMOVEC_CUDA_ARCH=90a EMOVEC_LLAMA_TOOLS=1 bash cmake/build-native.sh | sed -n 1p)
  bash tools/pack-native.sh "$prefix" .device-prebuilt
  # device-run.sh unpack runs it on the GPU with this before trusting it
  java -jar .device/emovec.jar make-model --preset tiny --type q4_k_m -o .device-prebuilt/tiny-q4_k_m.gguf 2> /dev/null
fi

du -sh .device/*
total=$(du -cb .device/* | tail -n 1 | cut -f1)
echo "total $((total / 1048576)) MiB of the 64 MiB a device call carries (with the working tree)"
[ "$total" -lt $((60 * 1048576)) ] || echo "warning: .device/ is too large to travel: remove what this run does not need" >&2
