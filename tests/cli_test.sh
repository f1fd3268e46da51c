#!/bin/bash
# cli_test.sh: runs the real `shmkv` binary (issue 17's CLI items) and checks its output, exit
# codes and the store it leaves. Usage: cli_test.sh PATH/TO/shmkv. Each check uses its own
# store, named after this shell's pid, and destroys it on exit (also on failure).
set -u
cli=${1:?usage: cli_test.sh PATH/TO/shmkv}
fixtures=$(dirname "$0")/fixtures
tmp=$(mktemp -d)
stores=()
redis_pid=
redis_dir=
cleanup() {
  for s in "${stores[@]}"; do "$cli" --name "$s" destroy 2>/dev/null; done
  if [ -n "$redis_pid" ]; then
    kill "$redis_pid" 2>/dev/null
    wait "$redis_pid" 2>/dev/null
  fi
  rm -rf "$tmp" ${redis_dir:+"$redis_dir"}
}
trap cleanup EXIT
failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}
# new_store SUFFIX [create options...]: creates store cli-<pid>-SUFFIX; its name is in $S.
new_store() {
  S="cli-$$-$1"
  shift
  stores+=("$S")
  "$cli" --name "$S" destroy 2>/dev/null
  "$cli" --name "$S" create --size 16MiB "$@" >/dev/null || fail "create $S $*"
}

# --- 1. JSON output: keys that are not UTF-8 are base64, so x\xff and x\xc3\xbf stay apart.
new_store json
"$cli" --name "$S" set $'x\xff' raw || fail "set x\\xff"
"$cli" --name "$S" set $'x\xc3\xbf' utf8 || fail "set x\\xc3\\xbf"
out=$("$cli" --name "$S" list --json)
want='[{"key":"xÿ","value":"utf8"},{"key_base64":"eP8=","value":"raw"}]'
[ "$out" = "$want" ] || fail "list --json: got '$out', want '$want'"
out=$("$cli" --name "$S" scan --json --limit 1 --cursor $'x\xc3\xbf')
want='{"entries":[{"key_base64":"eP8=","value":"raw"}],"cursor_base64":"eP8=","done":true}'
[ "$out" = "$want" ] || fail "scan --json: got '$out', want '$want'"
# The same convention as export --jsonl.
"$cli" --name "$S" export --jsonl 2>/dev/null | grep -q '"key_base64":"eP8="' ||
  fail "export --jsonl does not write key_base64 eP8="

# A scan cursor that is not UTF-8 comes out as cursor_base64 and goes back in as --cursor-base64.
new_store cursor
"$cli" --name "$S" mset a 1 $'x\xff' 2 y 3 || fail "mset a, x\\xff, y"
out=$("$cli" --name "$S" scan --limit 2 --json)
want='{"entries":[{"key":"a","value":"1"},{"key_base64":"eP8=","value":"2"}],"cursor_base64":"eP8=","done":false}'
[ "$out" = "$want" ] || fail "scan --limit 2 --json: got '$out', want '$want'"
cursor=$(printf '%s' "$out" | sed -n 's/.*"cursor_base64":"\([^"]*\)".*/\1/p')
out=$("$cli" --name "$S" scan --limit 2 --json --cursor-base64 "$cursor")
want='{"entries":[{"key":"y","value":"3"}],"cursor":"y","done":true}'
[ "$out" = "$want" ] || fail "scan --cursor-base64 $cursor: got '$out', want '$want'"
"$cli" --name "$S" scan --limit 2 --keys-only 2>&1 >/dev/null | grep -q -- '--cursor-base64 eP8=' ||
  fail "text scan does not suggest --cursor-base64 for a cursor that is not UTF-8"
"$cli" --name "$S" scan --cursor-base64 'eP8' 2>"$tmp/err"
[ $? = 2 ] && grep -q "'eP8' is not padded base64" "$tmp/err" || fail "scan --cursor-base64 eP8: $(cat "$tmp/err")"
"$cli" --name "$S" scan --cursor a --cursor-base64 eP8= 2>/dev/null
[ $? = 2 ] || fail "scan with --cursor and --cursor-base64 is not a usage error"

# --- 3. import counts keys stored and duplicate lines apart: 3 lines for one key store 1 key.
new_store import
printf '{"key":"a","value":"1"}\n{"key":"a","value":"2"}\n{"key":"a","value":"3"}\n' >"$tmp/dup.jsonl"
out=$("$cli" --name "$S" import --jsonl "$tmp/dup.jsonl") || fail "import --jsonl dup.jsonl"
case $out in
  "imported 1 keys from $tmp/dup.jsonl; 2 duplicate lines (the last one for a key wins)"*) ;;
  *) fail "import of 3 lines for one key: got '$out'" ;;
esac
[ "$("$cli" --name "$S" size)" = 1 ] || fail "size after the import is not 1"
[ "$("$cli" --name "$S" get a)" = 3 ] || fail "the last line for a key does not win"

# --- import --merge adds to the store (import replaces it); both count keys stored and duplicate
# lines apart.
new_store merge
"$cli" --name "$S" mset keep 1 a old || fail "mset keep 1 a old"
printf '{"key":"a","value":"1"}\n{"key":"b","value":"2"}\n{"key":"a","value":"3"}\n' >"$tmp/merge.jsonl"
out=$("$cli" --name "$S" import --jsonl "$tmp/merge.jsonl" --merge) || fail "import --merge"
[ "$out" = "imported 2 keys from $tmp/merge.jsonl; 1 duplicate lines (the last one for a key wins) (merged: the store's other keys were kept)" ] ||
  fail "import --merge: got '$out'"
out=$("$cli" --name "$S" list | tr '\t\n' '= ')
[ "$out" = "a=3 b=2 keep=1 " ] || fail "after import --merge: $out"
printf '{"key":"c","value":"4"}\n{"key":"d"}\n' >"$tmp/bad.jsonl"
"$cli" --name "$S" import --jsonl "$tmp/bad.jsonl" --merge 2>"$tmp/err"
rc=$?
[ $rc = 3 ] && grep -q 'corrupted: line 2 column' "$tmp/err" && [ "$("$cli" --name "$S" size)" = 3 ] ||
  fail "import --merge of a bad file: exit $rc, $(cat "$tmp/err"), size $("$cli" --name "$S" size)"
"$cli" --name "$S" import --jsonl "$tmp/merge.jsonl" >/dev/null || fail "import (replace)"
[ "$("$cli" --name "$S" list --keys-only | tr '\n' ' ')" = "a b " ] || fail "import without --merge kept other keys"

# --- JSONL interoperable with xk6-kv (oshokin/xk6-kv exportJSONL): values that are JSON
# documents import as their compact text, and export --json-values writes them back as documents,
# so the file comes back byte for byte (in another line order). (Not for a string value whose
# text is itself a compact JSON document, such as "42": shmkv keeps bytes, not types, and writes
# it back as the document, 42.)
new_store xk6
"$cli" --name "$S" import --jsonl "$fixtures/xk6-kv-export.jsonl" >/dev/null || fail "import of an xk6-kv export"
check_value() {
  local got
  got=$("$cli" --name "$S" get "$1" --raw) || { fail "get $1"; return; }
  [ "$got" = "$2" ] || fail "xk6-kv import: $1 is '$got', want '$2'"
}
check_value user:1 '{"name":"Alice","tags":["admin","ops"]}'
check_value user:2 '{"age":31,"name":"Bob","note":"a\u003cb \u0026 café"}'
check_value counter 42
check_value big 1e+21
check_value flag:off false
check_value nothing null
check_value list '[1,"two",[3],{}]'
check_value greeting 'hello, world'
check_value looks-like-json '{"not": "parsed"}'
check_value empty ''
"$cli" --name "$S" export --jsonl --json-values 2>/dev/null | sort >"$tmp/xk6.out"
sort "$fixtures/xk6-kv-export.jsonl" | cmp -s - "$tmp/xk6.out" ||
  fail "export --json-values of an xk6-kv import differs: $(sort "$fixtures/xk6-kv-export.jsonl" | diff - "$tmp/xk6.out")"
# Values that only look like JSON stay strings, so export then import is byte-exact either way.
"$cli" --name "$S" mset spaced '{ "a": 1 }' quoted '"q"' zero 01 comma '[1,]' word nullx || fail "mset look-alikes"
printf '\xff{}' | "$cli" --name "$S" set bin -
"$cli" --name "$S" export --jsonl --json-values 2>/dev/null >"$tmp/json-values.jsonl"
grep -qF '{"key":"spaced","value":"{ \"a\": 1 }"}' "$tmp/json-values.jsonl" ||
  fail "export --json-values wrote a value with blanks as a document"
grep -qF '{"key":"counter","value":42}' "$tmp/json-values.jsonl" || fail "export --json-values: counter"
grep -qF '{"key":"counter","value":"42"}' <("$cli" --name "$S" export --jsonl 2>/dev/null) ||
  fail "export without --json-values does not write values as strings"
new_store xk6back
"$cli" --name "$S" import --jsonl "$tmp/json-values.jsonl" >/dev/null || fail "import of export --json-values"
"$cli" --name "cli-$$-xk6" export --jsonl 2>/dev/null | sort >"$tmp/a"
"$cli" --name "$S" export --jsonl 2>/dev/null | sort >"$tmp/b"
cmp -s "$tmp/a" "$tmp/b" || fail "export --json-values then import is not byte-exact: $(diff "$tmp/a" "$tmp/b")"
printf '{"key":"k","value":[1,2}\n' | "$cli" --name "$S" import --jsonl - 2>"$tmp/err"
[ $? = 3 ] && grep -q "corrupted: line 1 column 24: expected ']'" "$tmp/err" ||
  fail "import of a broken JSON value: $(cat "$tmp/err")"

# --- persistence from the command line, in a temporary directory: create --dir with every
# persistence option, snapshot, sync, check, and create --json's recovery report once the segment
# is gone.
S="cli-$$-persist"
stores+=("$S")
pdir="$tmp/persist"
"$cli" --name "$S" destroy 2>/dev/null
out=$("$cli" --name "$S" create --size 16MiB --dir "$pdir" --fsync always --fsync-interval 50ms \
  --snapshot-interval 1h --keep 1 --json 2>/dev/null) || fail "create --dir $pdir --json"
case $out in
  *'"recovery":{"performed":true,"directory":"'"$pdir"'","snapshot":"",'*'"entries":0,'*) ;;
  *) fail "create --dir --json of an empty directory: '$out'" ;;
esac
"$cli" --name "$S" mset a 1 b 2 || fail "mset in a persistent store"
out=$("$cli" --name "$S" snapshot) || fail "snapshot"
case $out in "snapshot of 2 keys ("*") at seq "*) ;; *) fail "snapshot printed '$out'" ;; esac
ls "$pdir"/snapshot-*.msgpack >/dev/null 2>&1 || fail "snapshot wrote no snapshot file in $pdir"
"$cli" --name "$S" set c 3 || fail "set c after the snapshot"
"$cli" --name "$S" sync || fail "sync"
out=$("$cli" --name "$S" check) || fail "check of a healthy store: '$out'"
case $out in "ok: no invariant violations in "*" shards") ;; *) fail "check printed '$out'" ;; esac
"$cli" --name "$S" destroy
out=$("$cli" --name "$S" create --size 16MiB --dir "$pdir" --json 2>/dev/null) || fail "create (recover) --json"
case $out in
  *'"recovery":{"performed":true,'*'"snapshot_entries":2,'*'"records_applied":1,'*'"entries":3,'*) ;;
  *) fail "recovery report after destroy: '$out'" ;;
esac
[ "$("$cli" --name "$S" get c)" = 3 ] || fail "c is not recovered from the journal"
"$cli" --name "$S" create --fsync-interval 50ms 2>/dev/null
[ $? = 2 ] || fail "create --fsync-interval without --dir is not a usage error"
new_store memonly
"$cli" --name "$S" snapshot 2>"$tmp/err"
rc=$?
[ $rc = 3 ] && grep -q 'invalid_argument: .*no persistence directory' "$tmp/err" ||
  fail "snapshot of a memory-only store: exit $rc, $(cat "$tmp/err")"

# --- 7. the documented minimum size works with the default max value: the library lowers it to
# the largest value a 1 MiB store can hold (a note names --max-value), and a value of that size
# is stored; an explicit --max-value that cannot fit is refused, naming it, and creates nothing.
S="cli-$$-small"
stores+=("$S")
"$cli" --name "$S" create --size 1MiB >"$tmp/out" 2>"$tmp/err" || fail "create --size 1MiB: $(cat "$tmp/err")"
grep -q 'max value lowered from 1.0 MiB to .*(give --max-value to choose it)' "$tmp/err" ||
  fail "create --size 1MiB does not note the lowered max value: $(cat "$tmp/err")"
max=$("$cli" --name "$S" info --json | sed -n 's/.*"max_value_bytes":\([0-9]*\).*/\1/p')
[ -n "$max" ] && [ "$max" -lt 1048576 ] || fail "max_value_bytes of a 1 MiB store: '$max'"
grep -q 'max value [0-9.]* KiB' "$tmp/out" || fail "create --size 1MiB: $(cat "$tmp/out")"
head -c "$max" /dev/zero | tr '\0' v >"$tmp/max"
"$cli" --name "$S" set big --file "$tmp/max" || fail "set a $max-byte value in a 1 MiB store"
"$cli" --name "$S" destroy
"$cli" --name "$S" create --size 1MiB --max-value 2MiB 2>"$tmp/err"
rc=$?
[ $rc = 3 ] || fail "create --size 1MiB --max-value 2MiB: exit $rc, want 3"
grep -q -- 'invalid_argument: max_value_bytes 2097152 does not fit .* at most [0-9]* fits.*(--max-value)' \
  "$tmp/err" || fail "create --max-value error: $(cat "$tmp/err")"
[ ! -e "/dev/shm/shmkv.$S" ] || fail "a refused create left /dev/shm/shmkv.$S"

# --- 10. values from stdin and files, exact bytes back with get --raw, get --json.
new_store values
head -c 204800 /dev/urandom >"$tmp/big"
printf 'no newline' >>"$tmp/big"
"$cli" --name "$S" set big - <"$tmp/big" || fail "set big - (200 KiB from stdin)"
"$cli" --name "$S" get big --raw >"$tmp/big.out" || fail "get big --raw"
cmp -s "$tmp/big" "$tmp/big.out" || fail "200 KiB value through stdin does not round-trip byte-exact"
printf 'line1\nline2\n' >"$tmp/file"
"$cli" --name "$S" set f --file "$tmp/file" || fail "set f --file"
"$cli" --name "$S" get f --raw >"$tmp/file.out"
cmp -s "$tmp/file" "$tmp/file.out" || fail "set --file / get --raw is not byte-exact"
printf '' | "$cli" --name "$S" set empty - || fail "set empty - (empty stdin)"
[ "$("$cli" --name "$S" get empty --raw | wc -c)" = 0 ] || fail "empty value from stdin"
out=$("$cli" --name "$S" get f --json)
[ "$out" = '{"key":"f","value":"line1\nline2\n"}' ] || fail "get --json: got '$out'"
printf '\xff' | "$cli" --name "$S" set bin -
out=$("$cli" --name "$S" get bin --json)
[ "$out" = '{"key":"bin","value_base64":"/w=="}' ] || fail "get --json of a binary value: got '$out'"
"$cli" --name "$S" set g --file "$tmp/missing" 2>"$tmp/err"
rc=$?
[ $rc = 3 ] && grep -q "not_found: --file $tmp/missing" "$tmp/err" || fail "set --file missing: exit $rc, $(cat "$tmp/err")"
"$cli" --name "$S" set g v --file "$tmp/file" 2>/dev/null
[ $? = 2 ] || fail "set with both VALUE and --file is not a usage error"
"$cli" --name "$S" get f --raw --json 2>/dev/null
[ $? = 2 ] || fail "get --raw --json is not a usage error"

# --- 12. get-or-set: exit 0 when it stored VALUE, 4 when the key existed; --json says which.
new_store getorset
out=$("$cli" --name "$S" get-or-set k first 2>/dev/null)
rc=$?
[ $rc = 0 ] && [ "$out" = first ] || fail "get-or-set of an absent key: exit $rc, '$out'"
out=$("$cli" --name "$S" get-or-set k second 2>/dev/null)
rc=$?
[ $rc = 4 ] && [ "$out" = first ] || fail "get-or-set of an existing key: exit $rc, '$out'"
out=$("$cli" --name "$S" get-or-set k third --json 2>/dev/null)
rc=$?
[ $rc = 4 ] && [ "$out" = '{"key":"k","value":"first","outcome":"loaded"}' ] ||
  fail "get-or-set --json (loaded): exit $rc, '$out'"
out=$("$cli" --name "$S" get-or-set j new --json 2>/dev/null)
rc=$?
[ $rc = 0 ] && [ "$out" = '{"key":"j","value":"new","outcome":"stored"}' ] ||
  fail "get-or-set --json (stored): exit $rc, '$out'"

# --- 8. TTL rule (store.hpp, Redis's): cas, swap, get-or-set and set-if-absent give the value they
# store the --ttl given, and drop the key's previous TTL without one; incr keeps it.
new_store ttl
# ttl_in KEY MIN_MS MAX_MS: the key's remaining TTL is in [MIN_MS, MAX_MS] ms.
ttl_in() {
  local t
  t=$("$cli" --name "$S" ttl "$1")
  t=${t%ms}
  [[ $t =~ ^[0-9]+$ ]] && [ "$t" -ge "$2" ] && [ "$t" -le "$3" ]
}
"$cli" --name "$S" set tk v --ttl 1h
"$cli" --name "$S" cas tk v w --ttl 2h || fail "cas tk v w --ttl 2h"
ttl_in tk 3600001 7200000 || fail "cas --ttl 2h: ttl is $("$cli" --name "$S" ttl tk)"
"$cli" --name "$S" incr n 1 >/dev/null && "$cli" --name "$S" expire n 1h
"$cli" --name "$S" incr n 1 >/dev/null
ttl_in n 1 3600000 || fail "incr dropped the TTL: $("$cli" --name "$S" ttl n)"
"$cli" --name "$S" cas tk w x || fail "cas tk w x"
[ "$("$cli" --name "$S" ttl tk)" = none ] || fail "cas without --ttl kept the TTL"
"$cli" --name "$S" cas nk --absent y --ttl 1h || fail "cas nk --absent y --ttl 1h"
ttl_in nk 1 3600000 || fail "cas --absent --ttl 1h: ttl is $("$cli" --name "$S" ttl nk)"
out=$("$cli" --name "$S" swap tk y --ttl 10m 2>/dev/null)
[ "$out" = x ] && ttl_in tk 1 600000 || fail "swap --ttl 10m: '$out', ttl $("$cli" --name "$S" ttl tk)"
"$cli" --name "$S" swap tk z 2>/dev/null >/dev/null
[ "$("$cli" --name "$S" ttl tk)" = none ] || fail "swap without --ttl kept the TTL"
"$cli" --name "$S" get-or-set gk first --ttl 1h >/dev/null 2>&1
ttl_in gk 1 3600000 || fail "get-or-set --ttl 1h (stored): ttl $("$cli" --name "$S" ttl gk)"
"$cli" --name "$S" get-or-set gk second --ttl 2m >/dev/null 2>&1
[ $? = 4 ] && ttl_in gk 120001 3600000 ||
  fail "get-or-set of an existing key changed its TTL: $("$cli" --name "$S" ttl gk)"
"$cli" --name "$S" set-if-absent sk v --ttl 1h || fail "set-if-absent sk v --ttl 1h"
ttl_in sk 1 3600000 || fail "set-if-absent --ttl 1h: ttl $("$cli" --name "$S" ttl sk)"
"$cli" --name "$S" cas tk z w --ttl soon 2>/dev/null
[ $? = 2 ] && [ "$("$cli" --name "$S" get tk)" = z ] || fail "cas --ttl soon is not a usage error"

# --- batches and random keys: mset, mget, mdel, random-keys.
new_store batch
"$cli" --name "$S" mset a 1 b 2 c 3 || fail "mset a 1 b 2 c 3"
out=$("$cli" --name "$S" mget a c)
[ "$out" = $'a\t1\nc\t3' ] || fail "mget a c: got '$out'"
out=$("$cli" --name "$S" mget a zz --json 2>/dev/null)
rc=$?
[ $rc = 1 ] && [ "$out" = '[{"key":"a","value":"1"},{"key":"zz","found":false}]' ] ||
  fail "mget a zz --json: exit $rc, '$out'"
"$cli" --name "$S" mset a 1 b 2>/dev/null
[ $? = 2 ] || fail "mset with an odd argument count is not a usage error"
[ "$("$cli" --name "$S" random-keys 3 --unique | sort | tr '\n' ' ')" = "a b c " ] ||
  fail "random-keys 3 --unique does not return a, b and c"
[ "$("$cli" --name "$S" random-keys 5 | wc -l)" = 5 ] || fail "random-keys 5 does not print 5 lines"
[ "$("$cli" --name "$S" mdel a b zz)" = 2 ] || fail "mdel a b zz does not report 2"
[ "$("$cli" --name "$S" size)" = 1 ] || fail "size after mdel is not 1"

# --- issue 14: ranges (--from/--to) on list, scan and count, delete-range, --keys-only,
# pop-random-many.
new_store range
"$cli" --name "$S" mset a:1 1 a:2 2 a:3 3 b:1 4 b:2 5 c 6 || fail "mset for ranges"
out=$("$cli" --name "$S" list --from a:2 --to b:2)
[ "$out" = $'a:2\t2\na:3\t3\nb:1\t4' ] || fail "list --from a:2 --to b:2: got '$out'"
out=$("$cli" --name "$S" list --prefix b --from a --to b:2 --keys-only)
[ "$out" = 'b:1' ] || fail "list --prefix b --from a --to b:2 --keys-only: got '$out'"
out=$("$cli" --name "$S" list --from b --keys-only --json)
[ "$out" = '[{"key":"b:1"},{"key":"b:2"},{"key":"c"}]' ] || fail "list --keys-only --json: got '$out'"
[ "$("$cli" --name "$S" count --from a:2 --to c)" = 4 ] || fail "count --from a:2 --to c"
[ "$("$cli" --name "$S" count --prefix a --to a:3)" = 2 ] || fail "count --prefix a --to a:3"
out=$("$cli" --name "$S" scan --from a:2 --to c --limit 2 --keys-only --json)
[ "$out" = '{"keys":[{"key":"a:2"},{"key":"a:3"}],"cursor":"a:3","done":false}' ] ||
  fail "scan --keys-only --json page 1: got '$out'"
out=$("$cli" --name "$S" scan --from a:2 --to c --limit 2 --cursor a:3 --json)
[ "$out" = '{"entries":[{"key":"b:1","value":"4"},{"key":"b:2","value":"5"}],"cursor":"b:2","done":true}' ] ||
  fail "scan --json page 2: got '$out'"
"$cli" --name "$S" list --from b --to a 2>"$tmp/err"
rc=$?
[ $rc = 3 ] && grep -q "invalid_argument: list range is inverted: to 'a' is below from 'b'" "$tmp/err" ||
  fail "list --from b --to a: exit $rc, $(cat "$tmp/err")"
"$cli" --name "$S" delete-range 2>/dev/null
[ $? = 2 ] || fail "delete-range without --prefix, --from or --to is not a usage error"
out=$("$cli" --name "$S" delete-range --from a:2 --to b:2 --limit 2 2>"$tmp/err")
[ "$out" = 2 ] && grep -q 'keys in the range remain' "$tmp/err" ||
  fail "delete-range --limit 2: got '$out', $(cat "$tmp/err")"
[ "$("$cli" --name "$S" delete-range --from a:2 --to b:2)" = 1 ] || fail "delete-range of the rest"
[ "$("$cli" --name "$S" list --keys-only | tr '\n' ' ')" = "a:1 b:2 c " ] ||
  fail "keys after delete-range: $("$cli" --name "$S" list --keys-only | tr '\n' ' ')"
"$cli" --name "$S" mset j:1 x j:2 y j:3 z || fail "mset j:*"
out=$("$cli" --name "$S" pop-random-many 2 --prefix j: | cut -f1 | sort -u | wc -l)
[ "$out" = 2 ] || fail "pop-random-many 2 did not print 2 distinct entries ($out)"
out=$("$cli" --name "$S" pop-random-many 5 --prefix j: --json)
case $out in '[{"key":"j:'?'","value":"'?'"}]') ;; *) fail "pop-random-many --json of the last j: key: got '$out'" ;; esac
"$cli" --name "$S" pop-random-many 5 --prefix j: 2>/dev/null
[ $? = 1 ] || fail "pop-random-many with no key left does not exit 1"
"$cli" --name "$S" pop-random-many 0 2>"$tmp/err"
rc=$?
[ $rc = 3 ] && grep -q 'pop_random_many n is 0' "$tmp/err" || fail "pop-random-many 0: exit $rc, $(cat "$tmp/err")"
[ "$("$cli" --name "$S" size)" = 3 ] || fail "size after the range checks is not 3"

# --- issue 16: lock, acquire, claim and claim-random run a command while shmkv holds the grant.
# await_file FILE: waits (bounded, 20 s) until FILE exists: a background command has started.
await_file() {
  local i
  for ((i = 0; i < 2000; i++)); do
    [ -e "$1" ] && return 0
    sleep 0.01
  done
  return 1
}
new_store coord
# Three locked commands in parallel never overlap: each writes start and end around a pause.
for i in 1 2 3; do
  "$cli" --name "$S" lock L --lease 60s --wait 60s -- \
    sh -c "echo start >>'$tmp/lock.log'; sleep 0.2; echo end >>'$tmp/lock.log'" &
done
wait
out=$(tr '\n' ' ' <"$tmp/lock.log")
[ "$out" = "start end start end start end " ] || fail "parallel locked commands overlapped: $out"
"$cli" --name "$S" lock L --lease 10s -- sh -c 'exit 7'
[ $? = 7 ] || fail "lock does not exit with the command's status"
"$cli" --name "$S" lock L --lease 10s -- sh -c '[ "$SHMKV_LOCK_TOKEN" -gt 0 ]' ||
  fail "the command does not get SHMKV_LOCK_TOKEN"
"$cli" --name "$S" lock L --lease 10s -- "$tmp/no-such-command" 2>/dev/null
[ $? = 127 ] || fail "lock with a command that does not exist does not exit 127"
"$cli" --name "$S" lock L --lease 10s 2>/dev/null
[ $? = 2 ] || fail "lock without a command is not a usage error"
# A SIGKILLed shmkv lock frees the lock at once (its 60 s lease plays no part) and takes its
# command down with it; meanwhile another lock is refused with exit 5, its command not run.
"$cli" --name "$S" lock L --lease 60s -- sh -c "echo \$\$ >'$tmp/held.tmp'; mv '$tmp/held.tmp' '$tmp/held'; exec sleep 60" &
holder=$!
await_file "$tmp/held" || fail "the locked command did not start"
"$cli" --name "$S" lock L --lease 10s -- touch "$tmp/ran" 2>"$tmp/err"
rc=$?
[ $rc = 5 ] && grep -q 'not obtained' "$tmp/err" && [ ! -e "$tmp/ran" ] ||
  fail "lock of a held lock with no --wait: exit $rc, $(cat "$tmp/err")"
kill -9 "$holder"
{ wait "$holder"; } 2>/dev/null
"$cli" --name "$S" lock L --lease 60s --wait 20s -- true ||
  fail "the lock of a SIGKILLed shmkv lock is not free"
command_pid=$(cat "$tmp/held")
for ((i = 0; i < 2000; i++)); do kill -0 "$command_pid" 2>/dev/null || break; sleep 0.01; done
kill -0 "$command_pid" 2>/dev/null && fail "the command of a SIGKILLed shmkv lock still runs"
# unlock by token (from another process), and SIGTERM passed on to the command.
rm -f "$tmp/held"
"$cli" --name "$S" lock L --lease 60s -- sh -c "echo \$SHMKV_LOCK_TOKEN >'$tmp/token.tmp'; mv '$tmp/token.tmp' '$tmp/held'; exec sleep 60" 2>"$tmp/holder.err" &
holder=$!
await_file "$tmp/held" || fail "the locked command did not start"
"$cli" --name "$S" unlock L "$(cat "$tmp/held")" || fail "unlock by the holder's token"
"$cli" --name "$S" unlock L "$(cat "$tmp/held")" 2>/dev/null
[ $? = 1 ] || fail "a second unlock with the same token does not exit 1"
"$cli" --name "$S" lock L --lease 10s -- true || fail "the lock after unlock by token is not free"
kill -TERM "$holder"
wait "$holder"
rc=$?
[ $rc = 143 ] && grep -q 'WARNING: the lock was no longer held' "$tmp/holder.err" ||
  fail "SIGTERM to shmkv lock: exit $rc (not 143), $(cat "$tmp/holder.err")"

# info shows the grants and their holders: the lock the running shmkv holds, alive.
"$cli" --name "$S" lock L --lease 60s -- "$cli" --name "$S" info --json >"$tmp/info.json" ||
  fail "info --json inside a lock"
grep -q '"grants":\[{"kind":"lock","name_head":"L","name_bytes":1,"token":[0-9]*,"holder_pid":[0-9]*,"holder_client":0,"holder_alive":true,"lease_left_ms":[0-9]*}\]' "$tmp/info.json" ||
  fail "info --json inside a lock: $(grep -o '"coordination".*' "$tmp/info.json")"
"$cli" --name "$S" lock L --lease 60s -- "$cli" --name "$S" info | grep -q '^  lock  *L  *token [0-9]*  *pid [0-9]* alive  *lease' ||
  fail "info inside a lock does not list the lock"

# acquire: three commands, two permits: never more than two at once.
for i in 1 2 3; do
  "$cli" --name "$S" acquire db --permits 2 --wait 60s -- \
    sh -c "echo + >>'$tmp/permits.log'; sleep 0.3; echo - >>'$tmp/permits.log'" &
done
wait
peak=$(awk '$1 == "+" { n++; if (n > peak) peak = n } $1 == "-" { n-- } END { print peak }' "$tmp/permits.log")
[ "$peak" = 2 ] || fail "acquire --permits 2 let $peak commands run at once"
"$cli" --name "$S" acquire db --permits 0 -- true 2>/dev/null
[ $? = 3 ] || fail "acquire --permits 0 is not refused"

# claim-random without a command prints KEY<TAB>TOKEN<TAB>VALUE; the claim ends with shmkv.
"$cli" --name "$S" set acct:1 $'alice\tsmith' || fail "set acct:1"
IFS=$'\t' read -r key token value < <("$cli" --name "$S" claim-random acct: --lease 60s)
[ "$key" = acct:1 ] && [ "$token" -gt 0 ] && [ "$value" = $'alice\tsmith' ] ||
  fail "claim-random printed '$key' '$token' '$value'"
out=$("$cli" --name "$S" claim acct:1 --lease 60s --json)
case $out in '{"key":"acct:1","value":"alice\tsmith","token":'*'}') ;; *) fail "claim --json: $out" ;; esac
"$cli" --name "$S" claim-random none: --lease 60s 2>/dev/null
[ $? = 5 ] || fail "claim-random with no key to claim does not exit 5"
# With a command: released when it fails (the key stays), completed when it succeeds.
"$cli" --name "$S" claim-random acct: --lease 60s -- \
  sh -c '[ "$SHMKV_CLAIM_KEY" = acct:1 ] && [ "$SHMKV_CLAIM_TOKEN" -gt 0 ] && printf %s "$SHMKV_CLAIM_VALUE" >"$0"; exit 9' "$tmp/claimed"
[ $? = 9 ] && [ "$(cat "$tmp/claimed")" = $'alice\tsmith' ] || fail "claim-random -- CMD that exits 9"
"$cli" --name "$S" exists acct:1 >/dev/null || fail "a claim whose command failed deleted the key"
"$cli" --name "$S" claim-random acct: --lease 60s -- true || fail "claim-random -- true"
"$cli" --name "$S" exists acct:1 >/dev/null && fail "a claim whose command succeeded kept the key"
# release, complete and renew by token, on a claim a live shmkv holds.
"$cli" --name "$S" set acct:2 bob
rm -f "$tmp/held"
"$cli" --name "$S" claim acct:2 --lease 60s -- sh -c "echo \$SHMKV_CLAIM_TOKEN >'$tmp/token.tmp'; mv '$tmp/token.tmp' '$tmp/held'; exec sleep 60" 2>/dev/null &
holder=$!
await_file "$tmp/held" || fail "the claiming command did not start"
token=$(cat "$tmp/held")
"$cli" --name "$S" claim acct:2 --lease 60s 2>/dev/null
[ $? = 5 ] || fail "claim of a key a live shmkv holds does not exit 5"
"$cli" --name "$S" renew acct:2 "$token" --lease 60s || fail "renew by token"
"$cli" --name "$S" renew acct:2 $((token + 1)) --lease 60s 2>/dev/null
[ $? = 1 ] || fail "renew with a wrong token does not exit 1"
"$cli" --name "$S" release acct:2 "$token" || fail "release by token"
"$cli" --name "$S" complete acct:2 "$token" 2>/dev/null
[ $? = 1 ] || fail "complete with a released token does not exit 1"
kill -9 "$holder"
{ wait "$holder"; } 2>/dev/null
# wait and pop-random --wait: woken by another process's write (20 s limits never reached).
"$cli" --name "$S" wait ready --timeout 0 2>/dev/null
[ $? = 1 ] || fail "wait for an absent key with --timeout 0 does not exit 1"
"$cli" --name "$S" wait ready --timeout 20s &
waiter=$!
"$cli" --name "$S" pop-random --prefix job: --wait 20s >"$tmp/popped" &
popper=$!
sleep 0.2
"$cli" --name "$S" set ready 1
"$cli" --name "$S" set job:1 payload
wait "$waiter" || fail "wait did not end with exit 0 once the key was set"
wait "$popper" && [ "$(cat "$tmp/popped")" = $'job:1\tpayload' ] ||
  fail "pop-random --wait: $(cat "$tmp/popped")"
"$cli" --name "cli-$$-missing" pop-random --wait soon 2>/dev/null
[ $? = 2 ] || fail "pop-random --wait with a bad duration is not a usage error before the store is opened"
# barrier: three parties get the indices 0, 1 and 2; a party SIGKILLed while the others wait
# breaks the round (exit 3, broken) instead of a hang.
for i in 1 2 3; do "$cli" --name "$S" barrier start --parties 3 --timeout 20s >"$tmp/arrival.$i" & done
wait
[ "$(sort "$tmp"/arrival.* | tr '\n' ' ')" = "0 1 2 " ] ||
  fail "barrier --parties 3 printed $(cat "$tmp"/arrival.* | tr '\n' ' ')"
"$cli" --name "$S" barrier trio --parties 3 --timeout 60s >/dev/null 2>&1 &
victim=$!
sleep 0.2
"$cli" --name "$S" barrier trio --parties 3 --timeout 20s 2>"$tmp/err" &
party=$!
sleep 0.2
kill -9 "$victim"
wait "$party"
rc=$?
[ $rc = 3 ] && grep -q '^shmkv: broken: ' "$tmp/err" ||
  fail "a barrier whose party was SIGKILLed: exit $rc, $(cat "$tmp/err")"
"$cli" --name "$S" check >/dev/null || fail "check after the coordination commands"

# --- A store on a Redis server: --url, $SHMKV_URL, create's segment options refused, unavailable
# (exit 3 like every library error), and backup/restore moving a store between the engines. The
# test runs a redis-server of its own on a unix socket (no TCP port, nothing saved), stopped on
# exit. Skipped when redis-server is not installed, unless SHMKV_REQUIRE_REDIS is set.
"$cli" --help | grep -q -- '--url URL' || fail "--help does not mention --url"
"$cli" --help | grep -q 'SHMKV_URL' || fail "--help does not mention SHMKV_URL"
"$cli" --url unix://"$tmp"/nobody.sock --name "cli-$$-nobody" get k 2>"$tmp/err"
rc=$?
[ $rc = 3 ] && grep -q "^shmkv: unavailable: .*$tmp/nobody.sock" "$tmp/err" ||
  fail "get on a url where nobody listens: exit $rc, $(cat "$tmp/err")"
"$cli" --url 2>/dev/null
[ $? = 2 ] || fail "--url without a value is not a usage error"
if command -v redis-server >/dev/null 2>&1; then
  redis_dir=$(mktemp -d /tmp/shmkv-cli-redis-XXXXXX)  # short: a socket path has <= 107 bytes
  redis-server --port 0 --unixsocket "$redis_dir/redis.sock" --save '' --appendonly no \
    --dir "$redis_dir" >/dev/null &
  redis_pid=$!
  url="unix://$redis_dir/redis.sock"
  R="cli-$$-redis"
  # The first create also waits for the server to listen (bounded: 10 s).
  for _ in $(seq 1000); do
    out=$("$cli" --url "$url" --name "$R" create 2>"$tmp/err") && break
    grep -q '^shmkv: unavailable:' "$tmp/err" || break
    sleep 0.01
  done
  case $out in
    "created store '$R' on $url (redis "*) ;;
    *) fail "create --url: got '$out', $(cat "$tmp/err")" ;;
  esac
  "$cli" --url "$url" --name "$R" set a 1 || fail "set --url"
  "$cli" --url="$url" --name "$R" mset b 2 c:1 3 || fail "mset --url="
  [ "$("$cli" --url "$url" --name "$R" get a)" = 1 ] || fail "get --url a"
  out=$("$cli" --url "$url" --name "$R" list | tr '\t\n' '= ')
  [ "$out" = "a=1 b=2 c:1=3 " ] || fail "list --url: got '$out'"
  [ "$("$cli" --url "$url" --name "$R" count)" = 3 ] || fail "count --url"
  [ "$("$cli" --name "$R" get a --url "$url")" = 1 ] || fail "--url after the command"
  # $SHMKV_URL is the default; --url wins over it.
  [ "$(SHMKV_URL=$url "$cli" --name "$R" get b)" = 2 ] || fail "get with SHMKV_URL"
  SHMKV_URL=$url "$cli" --name "$R" set d 4 || fail "set with SHMKV_URL"
  out=$(SHMKV_URL=$url "$cli" --name "$R" list --keys-only | tr '\n' ' ')
  [ "$out" = "a b c:1 d " ] || fail "list with SHMKV_URL: got '$out'"
  [ "$(SHMKV_URL=$url "$cli" --name "$R" count --prefix c:)" = 1 ] || fail "count with SHMKV_URL"
  [ "$(SHMKV_URL=unix://$tmp/nobody.sock "$cli" --url "$url" --name "$R" get d)" = 4 ] ||
    fail "--url does not win over SHMKV_URL"
  "$cli" --name "$R" get a >/dev/null 2>&1 && fail "without --url or SHMKV_URL the store was found in shared memory"
  # $SHMKV_TRUSTED_GROUP is a default for shared memory only; the flag on a url is refused.
  [ "$(SHMKV_TRUSTED_GROUP=$(id -g) "$cli" --url "$url" --name "$R" get a)" = 1 ] ||
    fail "SHMKV_TRUSTED_GROUP applied to a store on a url"
  "$cli" --url "$url" --trusted-group "$(id -g)" --name "$R" get a 2>"$tmp/err"
  rc=$?
  [ $rc = 3 ] && grep -q '^shmkv: invalid_argument: option trusted_group' "$tmp/err" ||
    fail "--trusted-group with --url: exit $rc, $(cat "$tmp/err")"
  "$cli" --url "$url" --name "$R" info | grep -q '^engine: *redis 7' || fail "info --url: no engine line"
  "$cli" --url "$url" --name "$R" info --json | grep -q '"engine":"redis"' || fail "info --json --url: no engine"
  "$cli" --url "$url" --name "$R" check >/dev/null || fail "check --url"
  # Coordination on the server: locked commands never overlap; a claimed key is not claimed again.
  rm -f "$tmp/lock.log"
  lockers=()
  for i in 1 2 3; do
    "$cli" --url "$url" --name "$R" lock L --lease 60s --wait 60s -- \
      sh -c "echo start >>'$tmp/lock.log'; sleep 0.2; echo end >>'$tmp/lock.log'" &
    lockers+=($!)
  done
  wait "${lockers[@]}"  # (not the server, a background child too)
  out=$(tr '\n' ' ' <"$tmp/lock.log")
  [ "$out" = "start end start end start end " ] || fail "locked commands on a url overlapped: $out"
  "$cli" --url "$url" --name "$R" claim c:1 --lease 60s -- sh -c \
    "\"$cli\" --url '$url' --name '$R' claim c:1 --lease 1s -- true; [ \$? = 5 ]" ||
    fail "a key claimed on a url was claimed again"
  # create's segment options are the library's invalid_argument on a url; nothing is created.
  "$cli" --url "$url" --name "$R-sized" create --size 16MiB 2>"$tmp/err"
  rc=$?
  [ $rc = 3 ] && grep -q '^shmkv: invalid_argument: option size_bytes applies to the shared-memory engine only' "$tmp/err" ||
    fail "create --size on a url: exit $rc, $(cat "$tmp/err")"
  "$cli" --url "$url" --name "$R-sized" get a 2>"$tmp/err"
  rc=$?
  [ $rc = 3 ] && grep -q '^shmkv: not_found:' "$tmp/err" || fail "the refused create left a store: exit $rc, $(cat "$tmp/err")"
  "$cli" --url "$url" --name "$R" destroy || fail "destroy --url"
  "$cli" --url "$url" --name "$R" get a 2>/dev/null
  [ $? = 3 ] || fail "get after destroy --url does not fail"

  # A store moves between the engines: backup on shared memory, restore on the server, backup
  # there, restore on shared memory; keys (binary ones too) and values survive both ways.
  new_store move
  "$cli" --name "$S" mset user:1 ann user:2 bob $'bin\xff\x01' $'v\x01\xfe' 'sp ace' 'a b' ||
    fail "mset for the move"
  "$cli" --name "$S" incr hits 7 >/dev/null || fail "incr for the move"
  "$cli" --name "$S" set session s1 --ttl 1h || fail "set with a TTL for the move"
  # ttl_within KEY [--url URL]: the key's TTL is set and at most an hour (it survived the move).
  ttl_within() {
    local key=$1
    shift
    local t
    t=$("$cli" "$@" ttl "$key")
    case $t in *ms) [ "${t%ms}" -gt 0 ] && [ "${t%ms}" -le 3600000 ] ;; *) false ;; esac
  }
  want=$("$cli" --name "$S" list --json)
  "$cli" --name "$S" backup "$tmp/from-shm.bak" >/dev/null || fail "backup on shared memory"
  "$cli" --url "$url" --name "$R-move" create >/dev/null || fail "create the store on the server"
  "$cli" --url "$url" --name "$R-move" restore "$tmp/from-shm.bak" >/dev/null ||
    fail "restore of a shared-memory backup on the server"
  got=$("$cli" --url "$url" --name "$R-move" list --json)
  [ "$got" = "$want" ] || fail "after restore on the server: got '$got', want '$want'"
  [ "$("$cli" --url "$url" --name "$R-move" incr hits)" = 8 ] || fail "the counter does not count on"
  ttl_within session --url "$url" --name "$R-move" || fail "the TTL did not survive the restore on the server"
  want=$("$cli" --url "$url" --name "$R-move" list --json)
  "$cli" --url "$url" --name "$R-move" backup "$tmp/from-redis.bak" >/dev/null || fail "backup on the server"
  new_store moved-back
  "$cli" --name "$S" restore "$tmp/from-redis.bak" >/dev/null ||
    fail "restore of the server's backup on shared memory"
  got=$("$cli" --name "$S" list --json)
  [ "$got" = "$want" ] || fail "after restore on shared memory: got '$got', want '$want'"
  case $want in *'"key":"hits","value":"8"'*) ;; *) fail "the round trip lost hits=8: $want" ;; esac
  ttl_within session --name "$S" || fail "the TTL did not survive the restore on shared memory"
elif [ -n "${SHMKV_REQUIRE_REDIS:-}" ]; then
  fail "redis-server is not on PATH and SHMKV_REQUIRE_REDIS is set"
else
  echo "cli_test: skipped the checks on a Redis server: redis-server is not installed"
fi

if [ "$failures" -ne 0 ]; then
  echo "cli_test: $failures failure(s)"
  exit 1
fi
echo "cli_test: all checks passed"
