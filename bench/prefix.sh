#!/usr/bin/env bash
# prefix.sh: issue 14's prefix-workload table. Runs `shmkv-bench --mix prefix` (bench/prefix.hpp)
# for every engine at every key count, one process at a time, and prints markdown: one table per
# key count (median and p99 µs per op, ops/s) and shmkv against the issue's targets.
#
#   bench/prefix.sh                                  # 100k 1M 4M keys; shmkv, redis, lmdb
#   bench/prefix.sh --keys "100k 1M" --engines "shmkv shmkv-tuned" -- --shards 256
# Options: --bin PATH (default build-rel/bench/shmkv-bench, else build/bench/shmkv-bench),
#   --keys "N ...", --engines "E ...", --seconds S (per op, default 0.3), --out DIR (raw logs;
#   default a mktemp directory, kept); after --, options for every shmkv-bench run.
# Exit status: 0 when every run's checks passed, 1 otherwise, 2 on a usage error.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=$ROOT/build-rel/bench/shmkv-bench
[ -x "$BIN" ] || BIN=$ROOT/build/bench/shmkv-bench
KEYS="100k 1M 4M"
ENGINES="shmkv redis lmdb"
SECONDS_PER_OP=0.3
OUT=""
while [ $# -gt 0 ]; do
  case $1 in
    --bin) BIN=$2; shift ;;
    --keys) KEYS=$2; shift ;;
    --engines) ENGINES=$2; shift ;;
    --seconds) SECONDS_PER_OP=$2; shift ;;
    --out) OUT=$2; shift ;;
    --) shift; break ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "prefix.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
[ -x "$BIN" ] || { echo "prefix.sh: $BIN not found; build the shmkv-bench target first" >&2; exit 2; }
[ -n "$OUT" ] || OUT=$(mktemp -d /tmp/shmkv-prefix.XXXXXX)
mkdir -p "$OUT"
ALL=$OUT/all.txt
: >"$ALL"

status=0
for n in $KEYS; do
  for e in $ENGINES; do
    log=$OUT/$e-$n.txt
    echo "prefix.sh: $e, $n keys (/dev/shm: $(df -h --output=avail /dev/shm | tail -1 | tr -d ' ')" \
      "free; load average $(cut -d' ' -f1-3 /proc/loadavg))" >&2
    "$BIN" --engine "$e" --mix prefix --keys "$n" --seconds "$SECONDS_PER_OP" "$@" >"$log" 2>&1 ||
      status=1
    cat "$log" >>"$ALL"
    grep -E '^(FAIL|RESULT)' "$log" >&2 || { echo "prefix.sh: $e $n: no RESULT line" >&2; status=1; }
  done
done

grep -m2 -E '^# (cpu|build)' "$ALL" || true
echo "raw logs: $OUT"
awk -v engines="$ENGINES" '
  function f(x) {  # µs: 3 significant digits, whole µs from 100 on
    if (x == "") return "-"
    x += 0
    return x < 10 ? sprintf("%.2f", x) : x < 100 ? sprintf("%.1f", x) : sprintf("%.0f", x)
  }
  function rate(x) {
    if (x == "") return "-"
    x += 0
    return x >= 1e6 ? sprintf("%.2f M", x / 1e6) : x >= 1e3 ? sprintf("%.1f k", x / 1e3) : sprintf("%.0f", x)
  }
  /^PREFIX / {
    delete v
    for (i = 2; i <= NF; i++) { p = index($i, "="); v[substr($i, 1, p - 1)] = substr($i, p + 1) }
    k = v["keys"]; o = v["op"]
    if (!(k in seen_n)) { seen_n[k] = 1; ns[++nn] = k }
    if (!(o in seen_o)) { seen_o[o] = 1; ops[++no] = o }
    med[v["engine"], k, o] = v["median_us"]; p99[v["engine"], k, o] = v["p99_us"]
    ops_s[v["engine"], k, o] = v["ops_per_s"]; reps[v["engine"], k, o] = v["reps"]
  }
  END {
    ne = split(engines, es, " ")
    for (a = 1; a <= nn; a++) {
      k = ns[a]
      printf "\n#### %s keys (+ 100 job: keys)\n\n| operation |", k
      for (j = 1; j <= ne; j++) printf " %s median µs | p99 µs | ops/s |", es[j]
      printf "\n|---|"; for (j = 1; j <= ne; j++) printf "---:|---:|---:|"; print ""
      for (b = 1; b <= no; b++) {
        o = ops[b]; printf "| %s |", o
        for (j = 1; j <= ne; j++) {
          e = es[j]
          printf " %s | %s | %s |", f(med[e, k, o]), f(p99[e, k, o]), rate(ops_s[e, k, o])
        }
        print ""
      }
    }
    if (!index(" " engines " ", " shmkv ")) exit
    # Issue 14: targets at 1M keys; random_key and count grow at most 2x from 100k to 4M.
    split("random_key(job:) 10 count(job:) 10 pop_random(job:) 20 list(job:,10) 20 list(key:,10) 20 scan(first,100) 60 scan(middle,100) 60", t, " ")
    print "\n#### shmkv against the issue 14 targets (median µs at 1000000 keys; growth 100k to 4M)\n"
    print "| operation | target | shmkv | met | 4M ÷ 100k | met (<= 2x) |"
    print "|---|---:|---:|---|---:|---|"
    for (i = 1; i < 14; i += 2) {
      o = t[i]; m = med["shmkv", 1000000, o]; lo = med["shmkv", 100000, o]; hi = med["shmkv", 4000000, o]
      g = (lo != "" && hi != "" && lo + 0 > 0) ? hi / lo : ""
      grow = (o == "random_key(job:)" || o == "count(job:)")
      printf "| %s | <= %s | %s | %s | %s | %s |\n", o, t[i + 1], f(m),
        m == "" ? "-" : (m + 0 <= t[i + 1] + 0 ? "yes" : "no"), g == "" ? "-" : sprintf("%.2fx", g),
        (!grow || g == "") ? "-" : (g <= 2 ? "yes" : "no")
    }
  }' "$ALL"
exit $status
