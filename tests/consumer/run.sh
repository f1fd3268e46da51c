#!/bin/sh
# Installs the built tree into a scratch prefix, then builds and runs tests/consumer against it
# with find_package(shmkv), and checks that pkg-config finds it too, and that the installed Node.js
# package (when the addon was built) loads with require("shmkv") on its own.
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
node_package=$(find "$work/prefix" -path '*/node_modules/shmkv/shmkv.node' | head -n 1)
if [ -n "$node_package" ]; then
  NODE_PATH=$(dirname "$(dirname "$node_package")") SHMKV_NODE_ADDON= node -e '
    const { openKv, destroy, version } = require("shmkv");
    const name = `consumer-node-${process.pid}`;
    const kv = openKv({ name, sizeBytes: 1 << 20 });
    if (kv.incrementBy("n", 2) !== 2) throw new Error("incrementBy");
    kv.close();
    destroy(name);
    console.log(`node: require("shmkv") ${version} from the installed package`);'
fi
