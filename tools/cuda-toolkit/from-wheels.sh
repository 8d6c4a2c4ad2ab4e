#!/usr/bin/env bash
# A CUDA 13.0 compiler for a machine with no GPU, from NVIDIA's pip wheels, laid out as a toolkit in DIR (printed):
# nvcc, NVVM, the CUDA runtime, cuBLAS, CCCL and the CRT headers, and a stub libcuda.so to link against (the driver
# is the GPU machine's). tools/device-bundle.sh builds llama.cpp's CUDA libraries with it, so that the GPU machine,
# which starts bare each session, need not spend ~4 of its 30 minutes building them.
# Versions: the CUDA 13.0 update whose runtime the GPU machine has (libcudart.so.13.0.96, with nvcc 13.0.88);
# cuBLAS is on pip only as 13.1, the same soname (libcublas.so.13): the GPU machine's own loads at run time.
#   bash tools/cuda-toolkit/from-wheels.sh [DIR]   (default ~/.cache/emovec/cuda-13.0)
set -euo pipefail
dir=${1:-$HOME/.cache/emovec/cuda-13.0}
[ -x "$dir/bin/nvcc" ] && [ -f "$dir/lib64/stubs/libcuda.so" ] && { echo "$dir"; exit 0; }
wheels=(nvidia-cuda-nvcc==13.0.88 nvidia-cuda-runtime==13.0.96 nvidia-cuda-crt==13.0.88 nvidia-nvvm==13.0.88
        nvidia-cuda-cccl==13.0.85 nvidia-cublas==13.1.1.3)
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --platform manylinux_2_27_x86_64 \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux_2_12_x86_64 \
  --platform manylinux2010_x86_64 -d "$tmp/whl" "${wheels[@]}" >&2
for w in "$tmp"/whl/*.whl; do unzip -q -o "$w" 'nvidia/cu13/*' -d "$tmp/x"; done
# nvcc.profile expects the toolkit's own layout: bin/, nvvm/, targets/x86_64-linux/{include,lib}
s=$tmp/x/nvidia/cu13 t=$tmp/toolkit/targets/x86_64-linux
mkdir -p "$t/lib/stubs"
cp -r "$s/bin" "$s/nvvm" "$tmp/toolkit/" && cp -r "$s/include" "$t/" && cp -r "$s/lib/." "$t/lib/"
ln -s targets/x86_64-linux/include "$tmp/toolkit/include" && ln -s targets/x86_64-linux/lib "$tmp/toolkit/lib64"
for l in libcudart libcublas libcublasLt; do ln -s "$l.so.13" "$t/lib/$l.so"; done
# libcuda's functions as cuda.h declares them (after its _v2 renames), each an empty stub: enough to link
gcc -E -P -I "$t/include" "$t/include/cuda.h" | grep -oP '\bcu[A-Z]\w*(?=\s*\()' | sort -u \
  | awk '{ print "void " $1 "(void) {}" }' > "$tmp/cuda-stub.c"
gcc -shared -fPIC -w -Wl,-soname,libcuda.so.1 -o "$t/lib/stubs/libcuda.so" "$tmp/cuda-stub.c"
ln -s libcuda.so "$t/lib/stubs/libcuda.so.1"   # for -rpath-link: executables check their libraries' needs
mkdir -p "$(dirname "$dir")" && rm -rf "$dir" && mv "$tmp/toolkit" "$dir"
"$dir/bin/nvcc" --version | tail -n 1 >&2
echo "$dir"
