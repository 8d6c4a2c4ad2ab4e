#!/usr/bin/env bash
# Puts the CUDA preset jars and the compiled check into .device/cuda-check for tools/cuda-preset-check/run.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd); root=$(dirname "$(dirname "$here")")
out="$root/.device/cuda-check"; mkdir -p "$out/classes"
m2=${M2_REPO:-$HOME/.m2/repository}
for a in org.bytedeco:javacpp:1.5.14 org.bytedeco:cuda:13.3-9.25-1.5.14 org.bytedeco:cuda:13.3-9.25-1.5.14:jar:linux-x86_64; do
  mvn -B -q dependency:get -Dartifact="$a" -Dtransitive=false
done
cp "$m2/org/bytedeco/javacpp/1.5.14/javacpp-1.5.14.jar" "$m2/org/bytedeco/cuda/13.3-9.25-1.5.14/cuda-13.3-9.25-1.5.14.jar" \
   "$m2/org/bytedeco/cuda/13.3-9.25-1.5.14/cuda-13.3-9.25-1.5.14-linux-x86_64.jar" "$out/"
javac --release 17 -cp "$out/javacpp-1.5.14.jar:$out/cuda-13.3-9.25-1.5.14.jar" -d "$out/classes" "$here/CudaPresetCheck.java"
du -sh "$out"
