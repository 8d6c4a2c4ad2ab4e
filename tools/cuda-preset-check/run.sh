#!/usr/bin/env bash
# Checks on the GPU machine that the JavaCPP CUDA preset loads (prepare: tools/cuda-preset-check/bundle.sh here).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd); root=$(dirname "$(dirname "$here")")
W=/tmp/emovec-cuda-check; mkdir -p "$W"
[ -d "$W/emovec-jre" ] || tar -C "$W" -xJf "$root/.device/jre.tar.xz"
cp="$root/.device/cuda-check/classes"; for j in "$root"/.device/cuda-check/*.jar; do cp="$cp:$j"; done
"$W/emovec-jre/bin/java" -cp "$cp" CudaPresetCheck
