#!/bin/sh
# alternate.sh: compare builds of shmkv-bench on one mix, run one after the other in rounds, so
# that the drift of a noisy machine hits every build alike; prints each build's median ops/s.
# Used for "no slowdown against the previous commit" (docs/benchmarks.md).
#
#   bench/alternate.sh ROUNDS MIX "OLD_BIN NEW_BIN ..." [shmkv-bench options]
#   bench/alternate.sh 10 50-50 "/tmp/old/shmkv-bench build/bench/shmkv-bench" \
#     --engine shmkv-tuned --home-block-bytes 0
#
# Each run: --engine shmkv --keys 1M --mix MIX --ops 3M --quiet, then the extra options (a later
# --ops or --engine wins). Engine shmkv is the store with the library's defaults; shmkv-tuned is
# sized by hand (max_keys, home blocks). Build each side with -DCMAKE_BUILD_TYPE=Release.
set -eu
rounds=${1:?usage: alternate.sh ROUNDS MIX "BIN ..." [options]}
mix=${2:?}
bins=${3:?}
shift 3
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for _ in $(seq "$rounds"); do
  n=0
  for bin in $bins; do
    n=$((n + 1))
    v=$("$bin" --engine shmkv --keys 1M --mix "$mix" --ops 3M --quiet "$@" 2>&1 |
      sed -n 's/^RESULT.* ops_per_s=\([0-9]*\).*/\1/p')
    echo "$n $v" >>"$out"
  done
done
n=0
for bin in $bins; do
  n=$((n + 1))
  grep "^$n " "$out" | awk '{print $2}' | sort -n |
    awk -v b="$bin" -v m="$mix" '{a[NR] = $1} END {
      printf "%-8s %-50s runs=%d median=%.3f M ops/s\n", m, b, NR, (a[int((NR + 1) / 2)] + a[int(NR / 2) + 1]) / 2 / 1e6 }'
done
