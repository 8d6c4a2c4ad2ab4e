#!/usr/bin/env bash
# Installs what building emovec needs and a fresh machine may lack (Debian/Ubuntu): a JDK 17+, Maven,
# a C++ compiler, CMake, git and npm (npm fetches llama.cpp's source). Does nothing when all are present.
set -euo pipefail
need=()
command -v java  >/dev/null || need+=(openjdk-17-jdk-headless)
command -v mvn   >/dev/null || need+=(maven)
command -v g++   >/dev/null || need+=(g++)
command -v cmake >/dev/null || need+=(cmake)
command -v git   >/dev/null || need+=(git)
command -v npm   >/dev/null || need+=(npm)
command -v ninja >/dev/null || need+=(ninja-build)
if [ ${#need[@]} -gt 0 ]; then
  echo "emovec: installing ${need[*]}" >&2
  SUDO=; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
