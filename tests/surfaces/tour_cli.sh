#!/bin/bash
# tour_cli.sh: the CLI column of the operation table (docs/bindings.md "Every operation, every
# surface"): runs every `shmkv` command once, checks its output and exit status, and prints
# "called COMMAND" after each check passed (tests/surfaces/check_table.py compares them with the
# table). Exits 1 at the first surprise.
#
#   tour_cli.sh SHMKV_BINARY STORE_NAME SCRATCH_DIR
set -u
cli=$1 name=$2 dir=$3
kv() { "$cli" --name "$name" "$@"; }
fail() { echo "tour_cli.sh: $*" >&2; exit 1; }
# expect COMMAND-NAME EXPECTED-OUTPUT ARGS...: runs `shmkv ARGS`, wants exit 0 and that output.
expect() {
  local called=$1 want=$2 got
  shift 2
  got=$(kv "$@") || fail "'$*' exited $?"
  [ "$got" = "$want" ] || fail "'$*' printed '$got', not '$want'"
  echo "called $called"
}
# run COMMAND-NAME ARGS...: wants exit 0, whatever it prints.
run() {
  local called=$1
  shift
  kv "$@" >/dev/null 2>&1 || fail "'$*' exited $?"
  echo "called $called"
}
# status COMMAND-NAME CODE ARGS...: wants that exit status.
status() {
  local called=$1 want=$2
  shift 2
  kv "$@" >/dev/null 2>&1
  local got=$?
  [ "$got" = "$want" ] || fail "'$*' exited $got, not $want"
  echo "called $called"
}

"$cli" --name "$name" destroy >/dev/null 2>&1
run create create --size 16MiB
expect set "" set k v --ttl 1h
expect get v get k
status exists 0 exists k
kv ttl k | grep -q 'ms$' || fail "ttl of a key set with --ttl 1h is not a duration"
echo "called ttl"
status expire 0 expire k 0
expect del "" del k
status del 1 del k
expect incr 5 incr n 5
expect get-or-set first get-or-set g first
status get-or-set 4 get-or-set g second
expect swap first swap g third
status cas 0 cas g third fourth
status cas 1 cas g third x
[ "$(kv cas g third x --json)" = '{"key":"g","swapped":false,"current":"fourth"}' ] ||
  fail "cas --json that lost does not print what the key holds"
echo "called cas --json"
status cad 1 cad g third
status cad 0 cad g fourth
status set-if-absent 0 set-if-absent a 1
status set-if-absent 1 set-if-absent a 2
expect mset "" mset job:1 a job:2 b job:3 c user:1 u
expect mget $'job:1\ta\njob:2\tb' mget job:1 job:2
expect count 3 count --prefix job:
expect list $'job:1\ta\njob:2\tb' list --prefix job: --limit 2
expect "list --keys-only" $'job:1\njob:2\njob:3' list --prefix job: --keys-only
kv scan --prefix job: --limit 2 | head -2 | grep -q $'^job:1\ta$' || fail "scan's first page"
echo "called scan"
[ "$(kv scan --prefix job: --keys-only --limit 5 | head -3 | tr '\n' ' ')" = "job:1 job:2 job:3 " ] ||
  fail "scan --keys-only"
echo "called scan --keys-only"
expect random-key user:1 random-key --prefix user:
[ "$(kv random-keys 5 --prefix job: --unique | sort | tr '\n' ' ')" = "job:1 job:2 job:3 " ] ||
  fail "random-keys --unique of 3 keys"
echo "called random-keys"
expect pop-random $'user:1\tu' pop-random --prefix user:
[ "$(kv pop-random-many 2 --prefix job: | wc -l)" = 2 ] || fail "pop-random-many 2"
echo "called pop-random-many"
# Coordination (issue 16). A grant is held by the shmkv process that took it, so renew, release,
# complete, unlock and release-permit run inside the command a holding shmkv runs.
inside() { "$@" 2>/dev/null; }  # a holder warns on stderr when its grant was ended for it
kv mset c:1 one c:2 two || fail "mset c:1 c:2"
case $(kv claim c:1 --lease 60s) in $'c:1\t'*$'\tone') echo "called claim" ;; *) fail "claim c:1" ;; esac
case $(kv claim-random c: --lease 60s) in c:[12]$'\t'*) echo "called claim-random" ;; *) fail "claim-random" ;; esac
inside kv claim c:1 --lease 60s -- sh -c '"$0" --name "$1" renew c:1 "$SHMKV_CLAIM_TOKEN" --lease 60s && exit 4' "$cli" "$name"
[ $? = 4 ] && kv exists c:1 >/dev/null || fail "renew inside a claim"
echo "called renew"
inside kv claim c:1 --lease 60s -- sh -c '"$0" --name "$1" release c:1 "$SHMKV_CLAIM_TOKEN"' "$cli" "$name" &&
  kv exists c:1 >/dev/null || fail "release inside a claim"
echo "called release"
inside kv claim c:1 --lease 60s -- sh -c '"$0" --name "$1" complete c:1 "$SHMKV_CLAIM_TOKEN" && exit 4' "$cli" "$name"
[ $? = 4 ] && ! kv exists c:1 >/dev/null || fail "complete inside a claim"
echo "called complete"
expect lock "" lock L --lease 10s -- true
inside kv lock L --lease 10s -- sh -c '"$0" --name "$1" unlock L "$SHMKV_LOCK_TOKEN"' "$cli" "$name" ||
  fail "unlock inside a lock"
echo "called unlock"
expect acquire "" acquire S --permits 1 -- true
inside kv acquire S --permits 1 -- sh -c '"$0" --name "$1" release-permit S "$SHMKV_PERMIT_TOKEN"' "$cli" "$name" ||
  fail "release-permit inside acquire"
echo "called release-permit"
kv set ready 1 && kv wait ready --timeout 1s || fail "wait for a key that exists"
echo "called wait"
kv set q:1 x || fail "set q:1"
expect "pop-random --wait" $'q:1\tx' pop-random --prefix q: --wait 1s
expect barrier 0 barrier start --parties 1 --timeout 1s
kv delete-prefix c: >/dev/null && kv del ready || fail "clean up after the coordination commands"
expect mdel 1 mdel job:1 job:2 job:3 nope
expect mset "" mset t:1 x u:1 z
expect delete-range 1 delete-range --prefix t:
expect delete-prefix 1 delete-prefix u:
expect size 2 size
kv info --json | grep -q "\"name\": *\"$name\"" || fail "info --json does not name the store"
echo "called info"
kv stats | grep -q sets || fail "stats prints no sets"
echo "called stats"
err=$(kv set "" v 2>&1 >/dev/null)
[ $? = 3 ] && [[ $err == "shmkv: invalid_argument: "* ]] || fail "an empty key: '$err'"
echo "called exit status 3"
[[ $("$cli" --version) == "shmkv "[0-9]* ]] || fail "--version"
echo "called --version"
status check 0 check
kv backup "$dir/tour.backup" >/dev/null || fail "backup"
echo "called backup"
kv export --jsonl "$dir/tour.jsonl" >/dev/null || fail "export --jsonl"
[ "$(wc -l <"$dir/tour.jsonl")" = 2 ] || fail "export wrote $(wc -l <"$dir/tour.jsonl") lines, not 2"
echo "called export"
expect clear "" clear
expect size 0 size
kv restore "$dir/tour.backup" >/dev/null 2>&1 || fail "restore"
expect get 1 get a
echo "called restore"
kv clear
kv import --jsonl "$dir/tour.jsonl" >/dev/null 2>&1 || fail "import"
expect get 5 get n
echo "called import"
expect destroy "" destroy
status exists 3 exists a  # the store is gone

# A persistent store: snapshot, sync, and the recovery that rebuilds it.
run create create --size 16MiB --dir "$dir/persist"
expect set "" set durable yes
expect sync "" sync
kv snapshot >/dev/null || fail "snapshot"
echo "called snapshot"
expect destroy "" destroy
kv create --size 16MiB --dir "$dir/persist" --json 2>/dev/null | grep -q '"recovery":{"performed":true' ||
  fail "create --json after the segment was destroyed does not report a recovery"
echo "called create --json"
expect get yes get durable
expect destroy "" destroy
exit 0
