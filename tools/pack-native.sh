#!/usr/bin/env bash
# Packs an installed llama.cpp build (cmake/build-native.sh's prefix, without share/) into DIR as
# <key>.tar.xz.part-NN of 15 MiB: the device tool carries and returns files of at most 16 MiB. Unpacked into a cache's
# native/ folder, build-native.sh uses it as it is where its fingerprint (.emovec-build) matches the machine.
#   bash tools/pack-native.sh PREFIX DIR
set -euo pipefail
prefix=$1 dir=$2 key=$(basename "$1")
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
tar -C "$(dirname "$prefix")" --exclude="$key/share" -cf - "$key" | xz -T0 -6 | split -b 15M -d - "$tmp/$key.tar.xz.part-"
rm -f "$dir/$key".tar.xz.part-* && mkdir -p "$dir" && mv "$tmp"/* "$dir/"
echo "packed $key: $(du -ch "$dir/$key".tar.xz.part-* | tail -n 1 | cut -f1) in $(ls "$dir/$key".tar.xz.part-* | wc -l) parts" >&2
