#!/bin/sh
# Installs the built tree into a scratch prefix, then builds and runs tests/consumer against it
# with find_package(shmkv), and checks that pkg-config finds it too.
set -eu
build_dir=$1
src_dir=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build_dir" --prefix "$work/prefix" >/dev/null
cmake -S "$src_dir" -B "$work/build" -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/build" >/dev/null
"$work/build/consumer"
PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig:$work/prefix/lib64/pkgconfig" pkg-config --exists --print-errors shmkv
echo "pkg-config: shmkv $(PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig" pkg-config --modversion shmkv)"
