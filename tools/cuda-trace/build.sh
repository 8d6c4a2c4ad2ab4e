#!/usr/bin/env bash
# Builds libcuda-trace.so (cuda_trace.cpp) into $1 with this machine's CUDA toolkit and CUPTI.
set -euo pipefail
out=${1:?usage: build.sh OUTDIR}
cuda=${CUDA_HOME:-/usr/local/cuda}
cupti=$cuda/extras/CUPTI
[ -f "$cupti/include/cupti.h" ] || cupti=$cuda   # some toolkits put CUPTI beside the runtime
hdr=$(find -L "$cupti/include" "$cuda/include" -name cupti_activity.h 2>/dev/null | head -n 1)
[ -n "$hdr" ] || { echo "no cupti_activity.h under $cuda" >&2; exit 1; }
# the newest record struct of each kind this CUPTI defines (the driver fills the newest)
newest() { grep -oE "\} $1[0-9]*;" "$hdr" | tr -d '}; ' | sort -V | tail -n 1; }
mkdir -p "$out"
g++ -O2 -shared -fPIC -std=c++17 -I"$(dirname "$hdr")" -I"$cuda/include" \
  -DTRACE_KERNEL="$(newest CUpti_ActivityKernel)" -DTRACE_MEMCPY="$(newest CUpti_ActivityMemcpy)" \
  -DTRACE_MEMSET="$(newest CUpti_ActivityMemset)" -DTRACE_SYNC="$(newest CUpti_ActivitySynchronization)" \
  "$(dirname "$0")/cuda_trace.cpp" -o "$out/libcuda-trace.so" \
  -L"$cupti/lib64" -L"$cuda/lib64" -Wl,-rpath,"$cupti/lib64" -lcupti
echo "$out/libcuda-trace.so ($(newest CUpti_ActivityKernel), $(newest CUpti_ActivityMemcpy))"
