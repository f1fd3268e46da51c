#!/usr/bin/env bash
# compare.sh: run shmkv-bench for every engine on every mix with 1 and 2 workers, repeat, and
# write docs/benchmarks.md (+ docs/benchmarks.png) with medians, min-max, ratios to shmkv,
# latency, memory per key, 1->2 worker scaling and the mutex micro-benchmark. Engine shmkv is a
# store with only its name and size set (the library's defaults: the headline and the targets);
# shmkv-tuned is the same store sized by hand for the workload (max_keys, home blocks).
#
#   bench/compare.sh                 # full: 1,000,000 keys, 100-byte values, 3 repetitions
#   bench/compare.sh --quick         # smoke run: 100,000 keys, 10x fewer ops
# Options: --bin PATH (default build/bench/shmkv-bench), --reps N, --keys N, --value-size B,
#   --engines "a b", --mixes "a b", --workers "1 2", --out DIR (raw logs; default
#   build/bench-results/<timestamp>), --md FILE (default docs/benchmarks.md; "" = none),
#   --idle-wait S (wait up to S seconds for foreign CPU load < 0.3 cores before each run; 15),
#   --idle-budget S (total seconds all those waits may take; 300),
#   --prefix-engines "a b" (bench/prefix.sh's prefix and range workloads at --keys, side by side;
#   default "shmkv redis lmdb", those of --engines; "" = skip them).
# The repetition loop is the outermost one, so drift on this noisy VM hits all engines alike.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=$ROOT/build/bench/shmkv-bench
REPS=3
KEYS=1000000
VALUE=100
ENGINES="shmkv shmkv-tuned shmkv-batch lmdb redis redis-pipe shmkv-redis boost-map null"
MIXES="get 90-10 50-50 incr"
POP_ENGINES="shmkv boost-map"
PREFIX_ENGINES="shmkv redis lmdb"
WORKERS="1 2"
QUICK=0
OUT=""
MD=$ROOT/docs/benchmarks.md
IDLE_WAIT=15
IDLE_BUDGET=300
ARGS="$*"

while [ $# -gt 0 ]; do
  case $1 in
    --quick) QUICK=1; KEYS=100000 ;;
    --bin) BIN=$2; shift ;;
    --reps) REPS=$2; shift ;;
    --keys) KEYS=$2; shift ;;
    --value-size) VALUE=$2; shift ;;
    --engines) ENGINES=$2; shift ;;
    --mixes) MIXES=$2; shift ;;
    --pop-engines) POP_ENGINES=$2; shift ;;
    --prefix-engines) PREFIX_ENGINES=$2; shift ;;
    --workers) WORKERS=$2; shift ;;
    --out) OUT=$2; shift ;;
    --md) MD=$2; shift ;;
    --idle-wait) IDLE_WAIT=$2; shift ;;
    --idle-budget) IDLE_BUDGET=$2; shift ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "compare.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

[ -x "$BIN" ] || { echo "compare.sh: $BIN not found; build first (cmake --build build)" >&2; exit 2; }
[ -n "$OUT" ] || OUT=$(cd "$(dirname "$BIN")/.." && pwd)/bench-results/$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$OUT"
RESULTS=$OUT/results.txt
LOG=$OUT/run.log
CMDS=$OUT/commands.txt
: >"$RESULTS"; : >"$LOG"; : >"$CMDS"

# Ops per worker, chosen so that one run lasts a few seconds at 1M keys on a 2-core VM
# (synchronous Redis pays a ~46 us socket round trip per op, so it gets far fewer).
ops_for() {  # engine mix
  local n
  case $1:$2 in
    shmkv:incr | shmkv-tuned:incr) n=20000000 ;;
    shmkv:* | shmkv-tuned:* | shmkv-batch:*) n=5000000 ;;
    boost-map:incr) n=50000000 ;;
    boost-map:*) n=5000000 ;;
    lmdb:get) n=2000000 ;;
    lmdb:*) n=1000000 ;;  # writes serialize: 50-50 with 2 workers runs at ~0.4 M/s
    redis-pipe:*) n=1000000 ;;
    redis:* | shmkv-redis:*) n=100000 ;;
    null:*) n=50000000 ;;
    *) n=1000000 ;;
  esac
  [ "$QUICK" = 1 ] && n=$((n / 10))
  echo "$n"
}

# Fraction of a core used by everything else, over 0.5 s (from /proc/stat).
foreign_load() {
  local a b
  a=($(head -1 /proc/stat)); sleep 0.5; b=($(head -1 /proc/stat))
  local busy=$(( (b[1]+b[2]+b[3]+b[6]+b[7]+b[8]) - (a[1]+a[2]+a[3]+a[6]+a[7]+a[8]) ))
  local total=$(( busy + (b[4]+b[5]) - (a[4]+a[5]) ))
  awk -v b="$busy" -v t="$total" -v n="$(nproc)" 'BEGIN { v = 0; if (t > 0) v = b / t * n; printf "%.2f", v }'
}
IDLE_SPENT=0
wait_idle() {  # sets LOAD
  local waited=0
  LOAD=$(foreign_load)
  while awk -v l="$LOAD" 'BEGIN { exit !(l > 0.3) }' && [ "$waited" -lt "$IDLE_WAIT" ] &&
    [ "$IDLE_SPENT" -lt "$IDLE_BUDGET" ]; do
    sleep 0.5; waited=$((waited + 1)); IDLE_SPENT=$((IDLE_SPENT + 1)); LOAD=$(foreign_load)
  done
}

run_one() {  # rep engine mix workers
  local rep=$1 engine=$2 mix=$3 w=$4 ops load rc=0 out
  ops=$(ops_for "$engine" "$mix")
  local cmd="$BIN --engine $engine --workers $w --keys $KEYS --value-size $VALUE --ops $ops --mix $mix --quiet"
  [ "$rep" = 1 ] && echo "${cmd/#$ROOT\//}" >>"$CMDS"
  wait_idle; load=$LOAD
  out=$($cmd 2>&1) || rc=$?
  { echo "### rep=$rep foreign_load=$load: $cmd"; echo "$out"; } >>"$LOG"
  if echo "$out" | grep -q '^RESULT '; then
    echo "$out" | grep '^RESULT ' | sed "s/^RESULT /RESULT rep=$rep foreign_load=$load /" >>"$RESULTS"
  else
    echo "RESULT rep=$rep foreign_load=$load engine=$engine mix=$mix workers=$w check=FAIL" >>"$RESULTS"
  fi
  echo "$out" | grep '^MEM ' >>"$OUT/mem.txt" || true
  printf '%s rep %s %-10s %-6s w=%s  %s\n' "$(date -u +%H:%M:%S)" "$rep" "$engine" "$mix" "$w" \
    "$(echo "$out" | grep '^RESULT ' | grep -o ' ops_per_s=[0-9]*\| check=[a-zA-Z]*' | tr '\n' ' ')"
  [ $rc = 0 ] || echo "  (exit $rc; see $LOG)"
}

echo "compare.sh: results in $OUT"
START=$(date -u '+%Y-%m-%d %H:%M UTC')
GITREV="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo none)$(git -C "$ROOT" diff --quiet HEAD -- src include 2>/dev/null || echo ' (+ uncommitted changes in src/ or include/)')"
BIN_DIR=$(cd "$(dirname "$BIN")/.." && pwd); BIN_DIR=${BIN_DIR/#$ROOT\//}
"$BIN" --engine boost-map --keys 1000 --ops 1000 --quiet 2>&1 | grep '^#' >"$OUT/header.txt" || true
for rep in $(seq 1 "$REPS"); do
  for engine in $ENGINES; do
    for mix in $MIXES; do
      # shmkv-batch differs from shmkv only in how gets are sent: no incr run.
      [ "$engine:$mix" = shmkv-batch:incr ] && continue
      for w in $WORKERS; do run_one "$rep" "$engine" "$mix" "$w"; done
    done
    case " $POP_ENGINES " in
      *" $engine "*) for w in $WORKERS; do run_one "$rep" "$engine" pop "$w"; done ;;
    esac
  done
done
MUTEX_OPS=10000000; [ "$QUICK" = 1 ] && MUTEX_OPS=2000000
echo "${BIN/#$ROOT\//} --engine mutex-cost --workers 2 --ops $MUTEX_OPS" >>"$CMDS"
"$BIN" --engine mutex-cost --workers 2 --ops "$MUTEX_OPS" | tee "$OUT/mutex.txt" | grep RESULT || true
# The prefix and range workloads (issue 14), for the engines of both lists, one process each.
PREFIX_RUN=""
for e in $PREFIX_ENGINES; do case " $ENGINES " in *" $e "*) PREFIX_RUN="$PREFIX_RUN $e" ;; esac; done
PREFIX_RUN=${PREFIX_RUN# }
if [ -n "$PREFIX_RUN" ]; then
  echo "bench/prefix.sh --bin ${BIN/#$ROOT\//} --keys $KEYS --engines \"$PREFIX_RUN\"" >>"$CMDS"
  wait_idle
  bash "$ROOT/bench/prefix.sh" --bin "$BIN" --keys "$KEYS" --engines "$PREFIX_RUN" \
    --out "$OUT/prefix" >"$OUT/prefix.md" || echo "compare.sh: a prefix run failed its checks; see $OUT/prefix" >&2
fi
END=$(date -u '+%Y-%m-%d %H:%M UTC')

# --- summary: engine mix workers n median min max p50 p99 fails (medians over reps) ---
awk '
function median(arr, n,   i, j, t, a) {
  for (i = 1; i <= n; i++) a[i] = arr[i]
  for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
  if (n == 0) return 0
  return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
/^RESULT / {
  delete f
  for (i = 2; i <= NF; i++) { p = index($i, "="); f[substr($i, 1, p - 1)] = substr($i, p + 1) }
  k = f["engine"] " " f["mix"] " " f["workers"]
  if (!(k in seen)) { seen[k] = 1; order[++nk] = k }
  if (f["check"] != "ok") { fails[k]++; next }
  c = ++n[k]; ops[k, c] = f["ops_per_s"] + 0; p50[k, c] = f["p50_ns"] + 0; p99[k, c] = f["p99_ns"] + 0
}
END {
  for (q = 1; q <= nk; q++) {
    k = order[q]; m = n[k] + 0; mn = 0; mx = 0
    delete a; delete b; delete d
    for (c = 1; c <= m; c++) {
      a[c] = ops[k, c]; b[c] = p50[k, c]; d[c] = p99[k, c]
      if (c == 1 || a[c] < mn) mn = a[c]; if (a[c] > mx) mx = a[c]
    }
    printf "%s %d %.0f %.0f %.0f %.0f %.0f %d\n", k, m, median(a, m), mn, mx, median(b, m), median(d, m), fails[k] + 0
  }
}' "$RESULTS" >"$OUT/summary.txt"

# --- chart: one cluster per mix/workers, one bar per engine, log scale ---
CHART_MIXES="$MIXES"
case " $POP_ENGINES " in "  ") ;; *) CHART_MIXES="$MIXES pop" ;; esac
{
  printf 'case'; for e in $ENGINES; do printf '\t%s' "$e"; done; printf '\n'
  for mix in $CHART_MIXES; do
    for w in $WORKERS; do
      printf '%s/%sw' "$mix" "$w"
      for e in $ENGINES; do
        v=$(awk -v k="$e $mix $w" '$1" "$2" "$3 == k && $4 > 0 { print $5 }' "$OUT/summary.txt")
        printf '\t%s' "${v:-NaN}"
      done
      printf '\n'
    done
  done
} >"$OUT/chart.tsv"

PNG=""
if [ -n "$MD" ]; then
  PNG=${MD%.md}.png
  if command -v gnuplot >/dev/null; then
    ncol=$(( $(echo $ENGINES | wc -w) + 1 ))
    gnuplot <<EOF || echo "compare.sh: gnuplot failed" >&2
set terminal pngcairo size 1400,640 font "sans,10"
set output "$PNG"
set title "shmkv-bench: ops/s, median of $REPS, $KEYS keys, $VALUE-byte values (log scale; higher is better)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set logscale y
set yrange [1e4:*]
set format y "%.0s%c"
set ylabel "ops/s (sum over workers)"
set grid ytics
set key outside right top
set xtics rotate by -30
set datafile missing "NaN"
set datafile separator "\t"
plot for [i=2:$ncol] "$OUT/chart.tsv" using i:xtic(1) title columnheader(i)
EOF
  fi
fi

[ -n "$MD" ] || { echo "compare.sh: summary in $OUT/summary.txt"; exit 0; }

# --- markdown ---
fmt_rate() { awk -v v="$1" 'BEGIN {
  if (v >= 1e6) printf "%.2f M", v / 1e6; else if (v >= 1e3) printf "%.0f k", v / 1e3; else printf "%.0f", v }'; }
get_sum() {  # engine mix workers field(4=n 5=med 6=min 7=max 8=p50 9=p99 10=fails)
  awk -v k="$1 $2 $3" -v f="$4" '$1" "$2" "$3 == k { print $f }' "$OUT/summary.txt"
}
cell() {  # engine mix workers -> "median (min-max)" or FAIL / blank
  local n med fails
  n=$(get_sum "$1" "$2" "$3" 4); fails=$(get_sum "$1" "$2" "$3" 10)
  if [ -z "$n" ]; then printf -- '-'; return; fi
  if [ "$n" = 0 ]; then printf 'FAIL'; return; fi
  med=$(get_sum "$1" "$2" "$3" 5)
  printf '%s (%s–%s)' "$(fmt_rate "$med")" "$(fmt_rate "$(get_sum "$1" "$2" "$3" 6)")" \
    "$(fmt_rate "$(get_sum "$1" "$2" "$3" 7)")"
  [ "${fails:-0}" = 0 ] || printf ' **%s FAIL**' "$fails"
}
ratio() {  # a b -> a/b with 2 significant-ish digits
  awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b <= 0 || a <= 0) { printf "-"; exit }
    r = a / b; if (r >= 10) printf "%.0f×", r; else printf "%.2f×", r }'
}

ratio_row() {  # label workers engine-a engine-b: a table row of median(a) ÷ median(b) per mix
  printf '| %s | %s |' "$1" "$2"
  for m in $ALL_MIXES; do printf ' %s |' "$(ratio "$(get_sum "$3" "$m" "$2" 5)" "$(get_sum "$4" "$m" "$2" 5)")"; done
  echo
}

OLD_NOTES=""
if [ -f "$MD" ]; then
  OLD_NOTES=$(awk '/<!-- notes:begin -->/ {on = 1; next} /<!-- notes:end -->/ {on = 0} on' "$MD")
fi
ALL_MIXES="$MIXES"; [ -n "${POP_ENGINES// /}" ] && ALL_MIXES="$MIXES pop"
KIND="full run"; [ "$QUICK" = 1 ] && KIND="quick run (--quick: 100k keys, 10x fewer ops)"
NRUNS=$(grep -c '^RESULT ' "$RESULTS" || true)
NFAIL=$(grep '^RESULT ' "$RESULTS" | grep -vc 'check=ok' || true)
REL_PNG=$(basename "$PNG")
{
  echo "# shmkv benchmarks"
  echo
  echo "Generated by \`bench/compare.sh $ARGS\` — a **$KIND** — from $START to $END."
  echo "$NRUNS runs, $NFAIL failed checks. Raw logs: \`${OUT/#$ROOT\//}/\` (not committed)."
  echo "This run took $((SECONDS / 60)) minutes. Regenerate with \`bench/compare.sh\` (full) or \`bench/compare.sh --quick\`."
  echo
  echo "## Environment"
  echo
  echo '```'
  sed 's/^# //' "$OUT/header.txt" | grep -v '^shmkv-bench'
  echo "transparent hugepages (shmem): $(cat /sys/kernel/mm/transparent_hugepage/shmem_enabled 2>/dev/null || echo n/a)"
  echo "redis-server: $(redis-server --version 2>/dev/null | head -1 || echo n/a)"
  echo "git at start: $GITREV; binary: $(stat -c '%y' "$BIN" | cut -d. -f1)"
  echo '```'
  echo
  echo "## Workload"
  echo
  echo "- The parent preloads $KEYS keys (\`key:\` + 12-digit index, 16 bytes) with $VALUE random"
  echo "  bytes each (deterministic from the seed) and 16 counters \`ctr:000000000000..15\` = 0, then"
  echo "  forks the workers. Each opens its own handle/connection after fork(), runs an untimed"
  echo "  warm-up of random gets (100k; 10k for synchronous Redis), waits on a pipe barrier and"
  echo "  runs its ops, timing batches of 32 ops (redis-pipe: one 32-deep pipeline) with"
  echo "  clock_gettime. The op stream is generated by the same code for every engine."
  echo "- Mixes: \`get\` (uniform random existing keys, value copied out), \`90-10\` and \`50-50\`"
  echo "  (get / overwrite with $VALUE new bytes), \`incr\` (+1 on one of the 16 counters, uniform),"
  echo "  \`pop\` (no counters are preloaded; every worker pops a random entry until the store is"
  echo "  empty; ops/s = keys popped / time)."
  echo "- Throughput = sum over workers of (ops / the worker's own elapsed time). Latency = the"
  echo "  mean per op of each 32-op batch, so p99/p99.9 understate single-op tails."
  echo "- Every run is checked: every get finds its key with $VALUE bytes; after incr the counters"
  echo "  sum to workers × ops; pop removes each key exactly once and leaves the store empty;"
  echo "  shmkv additionally passes \`check_invariants()\`. A failed check counts as FAIL below."
  echo "- Engines: **shmkv** (the defaults: a Store with only \`name\` and \`size_bytes\` = keys×400 B"
  echo "  + 64 MiB set, every other option at its library default; the headline and the targets);"
  echo "  **shmkv-tuned** (the same Store sized by hand for the workload: max_keys keys×1.3, home"
  echo "  blocks of the record size (32 + 16 + value bytes, rounded up to a size class) when at most"
  echo "  512 bytes, size keys×400 B + 64 MiB + the home blocks);"
  echo "  **shmkv-batch** (the defaults store; each 32-op batch's consecutive gets go through one"
  echo "  \`get_many\`, which prefetches their slots and records: the batched counterpart of"
  echo "  redis-pipe, not part of the single-op comparison below);"
  echo "  **lmdb** (/dev/shm, NOSYNC|WRITEMAP|NOMETASYNC|NOTLS, one txn per op); **redis**"
  echo "  (redis-server 7 on a unix socket, started by the benchmark, one round trip per op);"
  echo "  **redis-pipe** (same, 32 commands per round trip); **shmkv-redis** (shmkv's Store on its"
  echo "  Redis engine, \`Options::url\` = the socket of a redis-server started the same way: one"
  echo "  round trip per op, a Lua script for each set, incr and pop); **boost-map** (Boost.Interprocess,"
  echo "  64 boost::unordered_map shards each behind an interprocess_mutex, inline 16 B key /"
  echo "  128 B value slots: the naive shared-memory baseline); **null** (no store: a constant"
  echo "  cache-resident value, an atomic add per incr; the cost of the harness itself, the"
  echo "  ceiling of every row). Redis pop is a Lua script (SPOP from a set of names + GET +"
  echo "  DEL; not run by default)."
  echo "- Each configuration ran $REPS times; tables give the median and (min–max). Before each run"
  echo "  the script waited up to ${IDLE_WAIT}s (${IDLE_BUDGET}s in all) for other processes to use"
  echo "  < 0.3 cores; the median foreign load at a run's start was $(awk '/^RESULT/ { for (i = 2; i <= NF; i++) if ($i ~ /^foreign_load=/) print substr($i, 14) + 0 }' "$RESULTS" | sort -n | awk '{ v[NR] = $1 } END { printf "%.2f", NR ? v[int((NR + 1) / 2)] : 0 }') cores, the highest"
  echo "  foreign load seen at a run's start was $(awk '/^RESULT/ { for (i = 2; i <= NF; i++) if ($i ~ /^foreign_load=/) { v = substr($i, 14) + 0; if (v > m) m = v } } END { printf "%.2f", m }' "$RESULTS") cores."
  echo
  echo "## Commands"
  echo
  echo '```sh'
  echo "cmake -S . -B $BIN_DIR -DCMAKE_BUILD_TYPE=$(sed -n 's/^# build: \([^,]*\),.*/\1/p' "$OUT/header.txt") && cmake --build $BIN_DIR --target shmkv-bench -j2"
  echo "bench/compare.sh $ARGS"
  echo "# which runs, $REPS times over (repetition loop outermost):"
  cat "$CMDS"
  echo '```'
  echo
  echo "## Throughput (ops/s, median of $REPS, min–max)"
  echo
  printf '| engine | workers |'; for m in $ALL_MIXES; do printf ' %s |' "$m"; done; echo
  printf '|---|---:|'; for m in $ALL_MIXES; do printf -- '---:|'; done; echo
  for e in $ENGINES; do
    for w in $WORKERS; do
      if [ "$e" = shmkv ]; then printf '| **%s** | %s |' "$e" "$w"; else printf '| %s | %s |' "$e" "$w"; fi
      for m in $ALL_MIXES; do printf ' %s |' "$(cell "$e" "$m" "$w")"; done; echo
    done
  done
  echo
  [ -f "$PNG" ] && { echo "![ops/s per engine, mix and worker count]($REL_PNG)"; echo; }
  echo "## shmkv compared with each peer"
  echo
  echo "shmkv median ÷ peer median (above 1× = shmkv is faster)."
  echo
  printf '| peer | workers |'; for m in $ALL_MIXES; do printf ' %s |' "$m"; done; echo
  printf '|---|---:|'; for m in $ALL_MIXES; do printf -- '---:|'; done; echo
  for e in $ENGINES; do
    [ "$e" = shmkv ] || [ "$e" = null ] || [ "$e" = shmkv-batch ] || [ "$e" = shmkv-tuned ] && continue
    for w in $WORKERS; do ratio_row "$e" "$w" shmkv "$e"; done
  done
  case " $ENGINES " in
    *" shmkv-tuned "*)
      echo
      echo "What tuning by hand buys: shmkv-tuned median ÷ shmkv (defaults) median."
      echo
      printf '| variant | workers |'; for m in $ALL_MIXES; do printf ' %s |' "$m"; done; echo
      printf '|---|---:|'; for m in $ALL_MIXES; do printf -- '---:|'; done; echo
      for w in $WORKERS; do ratio_row shmkv-tuned "$w" shmkv-tuned shmkv; done
      ;;
  esac
  case " $ENGINES " in *" redis-pipe "*) HAVE_PIPE=1 ;; *) HAVE_PIPE=0 ;; esac
  case "$HAVE_PIPE $ENGINES " in
    "1 "*" shmkv-batch "*)
      echo
      echo "Batched reads: shmkv-batch median ÷ redis-pipe median (both send 32 ops at a time)."
      echo
      printf '| peer | workers |'; for m in $ALL_MIXES; do printf ' %s |' "$m"; done; echo
      printf '|---|---:|'; for m in $ALL_MIXES; do printf -- '---:|'; done; echo
      for w in $WORKERS; do ratio_row redis-pipe "$w" shmkv-batch redis-pipe; done
      ;;
  esac
  echo
  echo "## Speed targets"
  echo
  echo "The targets shmkv is held to: single ops, ratios of medians from this run (shmkv with its"
  echo "defaults, or the engine the target names, ÷ the peer; rows whose engines or mixes were not"
  echo "run are left out)."
  echo
  echo "| target | peer | mix | workers | ratio | met |"
  echo "|---|---|---|---:|---:|---|"
  target_row() {  # label peer mix workers minimum [engine measured against the peer: shmkv]
    local r; r=$(awk -v a="$(get_sum "${6:-shmkv}" "$3" "$4" 5)" -v b="$(get_sum "$2" "$3" "$4" 5)" \
      'BEGIN { if (a == "" || b == "" || b <= 0) print ""; else printf "%.2f", a / b }')
    [ -n "$r" ] || return 0
    echo "| $1 | $2 | $3 | $4 | $r× | $(awk -v r="$r" -v m="$5" 'BEGIN { print (r >= m ? "yes" : "**no**") }') |"
  }
  for w in 1 2; do target_row "get ≥ 1.5× Boost 64-shard" boost-map get "$w" 1.5; done
  for w in 1 2; do target_row "get ≥ 3× LMDB" lmdb get "$w" 3; done
  for m in 90-10 50-50; do
    target_row "$m ≥ 1.5× Boost 64-shard" boost-map "$m" 2 1.5
    target_row "$m ≥ 5× LMDB" lmdb "$m" 2 5
  done
  for w in 1 2; do target_row "incr ≥ Boost 64-shard" boost-map incr "$w" 1; done
  for m in get 90-10 50-50 incr; do
    for w in 1 2; do target_row "≥ 50× Redis, one command per round trip" redis "$m" "$w" 50; done
  done
  for m in get 90-10 50-50 incr pop; do  # 1 / 1.15 = 0.8696
    for w in 1 2; do
      target_row "shmkv-redis ≥ raw redis ÷ 1.15 (the Redis engine adds ≤ 15 %)" redis "$m" "$w" 0.8696 shmkv-redis
    done
  done
  echo
  echo "## Latency per op (median over runs of p50 / p99, ns; batch means)"
  echo
  printf '| engine | workers |'; for m in $ALL_MIXES; do printf ' %s |' "$m"; done; echo
  printf '|---|---:|'; for m in $ALL_MIXES; do printf -- '---:|'; done; echo
  for e in $ENGINES; do
    for w in $WORKERS; do
      printf '| %s | %s |' "$e" "$w"
      for m in $ALL_MIXES; do
        p50=$(get_sum "$e" "$m" "$w" 8); p99=$(get_sum "$e" "$m" "$w" 9)
        if [ -n "$p50" ] && [ "$(get_sum "$e" "$m" "$w" 4)" != 0 ]; then printf ' %s / %s |' "$p50" "$p99"; else printf ' - |'; fi
      done
      echo
    done
  done
  echo
  echo "## Also record"
  echo
  echo "### Memory per key ($KEYS keys of 16 + $VALUE bytes; raw $((16 + VALUE)) bytes)"
  echo
  echo "After the preload of a \`get\` run (first repetition). shmkv: bytes/key = (Info::arena_used_bytes"
  echo "+ index bytes) / keys, where index bytes = size_bytes − arena_bytes (header, hash slots, dense"
  echo "arrays, chunk table), for the default max_keys (size_bytes / 256) with shmkv and"
  echo "max_keys = keys × 1.3 with shmkv-tuned. shmkv-tuned's arena bytes include the home blocks, one"
  echo "per hash slot, reserved when the store is created (\`home_block_bytes\` and the share of"
  echo "records stored in their home block, \`home_records\`, are in the detail column)."
  echo
  echo "| engine | bytes per key | detail |"
  echo "|---|---:|---|"
  for e in $ENGINES; do
    line=$(grep "^MEM engine=$e " "$OUT/mem.txt" 2>/dev/null | head -1 || true)
    [ -n "$line" ] || continue
    bpk=$(echo "$line" | grep -o ' bytes_per_key=[0-9.]*' | cut -d= -f2)
    detail=$(echo "$line" | sed 's/^MEM engine=[^ ]* keys=[0-9]* value_size=[0-9]* //; s/ bytes_per_key=[0-9.]*//')
    echo "| $e | $bpk | \`$detail\` |"
  done
  echo
  echo "### Scaling from 1 to 2 workers (median with 2 ÷ median with 1)"
  echo
  printf '| engine |'; for m in $ALL_MIXES; do printf ' %s |' "$m"; done; echo
  printf '|---|'; for m in $ALL_MIXES; do printf -- '---:|'; done; echo
  for e in $ENGINES; do
    printf '| %s |' "$e"
    for m in $ALL_MIXES; do printf ' %s |' "$(ratio "$(get_sum "$e" "$m" 2 5)" "$(get_sum "$e" "$m" 1 5)")"; done
    echo
  done
  echo
  echo "### Mutex cost (\`shmkv-bench --engine mutex-cost\`, ns per lock+unlock, median of 7 / 3 rounds)"
  echo
  echo "| mutex | processes | ns | min–max |"
  echo "|---|---:|---:|---|"
  grep '^RESULT' "$OUT/mutex.txt" 2>/dev/null | awk '{
    delete f; for (i = 2; i <= NF; i++) { p = index($i, "="); f[substr($i, 1, p - 1)] = substr($i, p + 1) }
    printf "| %s | %s | %s | %s–%s |\n", f["kind"], f["procs"], f["ns_per_lock_unlock"], f["min"], f["max"] }'
  echo
  echo "robust-pshared = PTHREAD_PROCESS_SHARED + PTHREAD_MUTEX_ROBUST (shmkv's shard locks);"
  echo "pshared = PTHREAD_PROCESS_SHARED only (boost::interprocess_mutex); private = default mutex."
  echo "With 2 processes both hammer one mutex around a shared counter (aggregate ns per pair)."
  echo
  if [ -s "$OUT/prefix.md" ]; then
    echo "## Prefix and range operations ($PREFIX_RUN, side by side)"
    echo
    echo "\`bench/prefix.sh --keys $KEYS --engines \"$PREFIX_RUN\"\`: one process, median and p99 µs per"
    echo "operation (docs/benchmarks.md's issue 14 section has the workload)."
    grep -v '^raw logs:\|^# ' "$OUT/prefix.md"
    echo
  fi
  echo "## Notes"
  echo
  echo "<!-- notes:begin -->"
  if [ -n "$OLD_NOTES" ]; then echo "$OLD_NOTES"; else echo "(no notes yet)"; fi
  echo "<!-- notes:end -->"
} >"$MD"
echo "compare.sh: wrote $MD${PNG:+ and $PNG}"
