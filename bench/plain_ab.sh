#!/bin/bash
# plain_ab.sh: "no slowdown against an older commit" with the library's defaults. Builds the
# library of OLD (any commit, in a temporary worktree) and of this tree, compiles this tree's
# bench/plain_get.cpp against each (it uses only the public API, so it builds against old
# libraries too), then runs the two binaries one after the other, ROUNDS times per mix, so
# that a noisy machine's drift hits both alike. Prints each side's median and the median of
# the per-round ratios new/old (the figure to quote; docs/benchmarks.md).
#
#   bench/plain_ab.sh OLD_COMMIT [ROUNDS] [WORKERS] [MIXES]
#   bench/plain_ab.sh ffe1b88 13 1 "get 90-10 incr"
#
# Each run: shmkv-plain-get --mix MIX --seconds 3 --workers WORKERS (1M keys, 100-byte values,
# size 1M * 400 B + 64 MiB, every other option at the library's default).
set -euo pipefail
old=${1:?usage: plain_ab.sh OLD_COMMIT [ROUNDS] [WORKERS] [MIXES]}
rounds=${2:-9}
workers=${3:-1}
mixes=${4:-get 90-10 incr}
top=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'git -C "$top" worktree remove --force "$work/old" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

build() {  # build SOURCE_DIR NAME: the library, then plain_get.cpp of this tree against it
  cmake -S "$1" -B "$work/$2-build" -DCMAKE_BUILD_TYPE=Release -DSHMKV_BUILD_TESTS=OFF >/dev/null
  cmake --build "$work/$2-build" -j2 --target shmkv >/dev/null
  g++ -std=c++20 -O3 -DNDEBUG -I"$1/include" "$top/bench/plain_get.cpp" \
    "$work/$2-build/libshmkv.a" -lhiredis -lxxhash -lpthread -o "$work/plain-$2"
}
git -C "$top" worktree add --detach "$work/old" "$old" >/dev/null 2>&1
build "$work/old" old
build "$top" new

for _ in $(seq "$rounds"); do
  for mix in $mixes; do
    for side in old new; do
      line=$("$work/plain-$side" --mix "$mix" --seconds 3 --workers "$workers" | tail -1)
      case $line in *check=ok*) ;; *) echo "check failed: $side $mix: $line" >&2; exit 1 ;; esac
      echo "$mix $side $(echo "$line" | sed -n 's/.* ops_per_s=\([0-9]*\).*/\1/p')"
    done
  done
done | python3 -c '
import statistics, sys
runs = {}
for line in sys.stdin:
    mix, side, ops = line.split()
    runs.setdefault(mix, {"old": [], "new": []})[side].append(int(ops))
for mix, r in runs.items():
    ratios = [n / o for o, n in zip(r["old"], r["new"])]
    print("%-6s workers=%s rounds=%d old=%.3f M new=%.3f M new/old (median of paired rounds)=%.3f"
          % (mix, sys.argv[1], len(ratios), statistics.median(r["old"]) / 1e6,
             statistics.median(r["new"]) / 1e6, statistics.median(ratios)))
' "$workers"
