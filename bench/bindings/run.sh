#!/bin/sh
# run.sh: what a binding adds over the C++ call. Runs one workload through the Node, Python and
# LuaJIT bindings, one thread each, one after the other, each on a fresh store: 100,000 keys of
# 12 bytes with 100-byte values preloaded, then OPS gets over a fixed permutation of them, then
# OPS increments over 1000 counters. Prints ops/s per binding and operation (docs/benchmarks.md
# "Bindings"). For the C++ call itself: shmkv-bench --engine shmkv --mix get|incr --keys 100k.
#   bench/bindings/run.sh BUILD_DIR [OPS]     (OPS default 1000000)
set -eu
build=$(cd "${1:?usage: run.sh BUILD_DIR [OPS]}" && pwd)
ops=${2:-1000000}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
export SHMKV_LIBRARY="$build/bindings/libshmkv.so" SHMKV_NODE_ADDON="$build/bindings/node/shmkv.node"
export PYTHONPATH="$repo/bindings/python" SHMKV_LUA_DIR="$repo/bindings/lua" PYTHONDONTWRITEBYTECODE=1
store="bindings-bench-$$"
for run in "node $here/bench.js" "/usr/bin/python3 $here/bench.py" "luajit $here/bench.lua"; do
  $run "$store" "$ops"
  rm -f "/dev/shm/shmkv.$store"
done
