#!/bin/bash
# persistence_repro.sh: the CLI repros of reliability-audit.md rows 6f, 6g, 6j, 6o and 6p, run
# against a build: tests/persistence_repro.sh [build/tools/shmkv]. Prints what each gives; it
# checks nothing itself (tests/persistence_fault_test.cpp does). Uses a temporary directory and
# unique store names, removed at the end.
B=${1:-build/tools/shmkv}
T=$(mktemp -d /tmp/shmkv-repro.XXXX)
N=rp$$
echo "== 6f: 16 zero bytes at offset 10000 of a journal (1000 keys, always)"
for i in $(seq 0 999); do echo "{\"key\":\"key:$i\",\"value\":\"value-$i\"}"; done > $T/k.jsonl
$B --name $N create --dir $T/d1 --fsync always >/dev/null 2>&1
$B --name $N import --jsonl $T/k.jsonl
J=$(ls $T/d1/journal-* | head -1)
dd if=/dev/zero of=$J bs=1 seek=10000 count=16 conv=notrunc 2>/dev/null
$B --name $N destroy
$B --name $N create --dir $T/d1 2>&1 >/dev/null | cut -c1-230
echo "keys after recovery: $($B --name $N count)"
$B --name $N destroy
echo "== 6g: journal header byte 20 flipped"
rm -rf $T/d1
$B --name $N create --dir $T/d1 --fsync always >/dev/null 2>&1
$B --name $N import --jsonl $T/k.jsonl >/dev/null
J=$(ls $T/d1/journal-* | head -1)
printf '\xff' | dd of=$J bs=1 seek=20 count=1 conv=notrunc 2>/dev/null
$B --name $N destroy
$B --name $N create --dir $T/d1 2>&1 >/dev/null | cut -c1-200
echo "keys after recovery: $($B --name $N count)"
$B --name $N destroy
echo "== 6j: snapshots deleted after their journals were retired"
rm -rf $T/d1
$B --name $N create --dir $T/d1 --keep 1 >/dev/null 2>&1
$B --name $N import --jsonl $T/k.jsonl >/dev/null
$B --name $N snapshot
$B --name $N set extra 1
$B --name $N snapshot
ls $T/d1
$B --name $N destroy
rm $T/d1/snapshot-*
$B --name $N create --dir $T/d1; echo "rc=$?"
echo "== 6o: two stores, one directory"
rm -rf $T/d1
$B --name ${N}A create --dir $T/d1 >/dev/null 2>&1
$B --name ${N}A set a-only 1
$B --name ${N}B create --dir $T/d1; echo "rc=$?"
$B --name ${N}A destroy
echo "== 6p: CLI-only writers, --snapshot-interval 1s, 4 sets over 3 s"
rm -rf $T/d1
$B --name $N create --dir $T/d1 --snapshot-interval 1s >/dev/null 2>&1
for i in 1 2 3 4; do $B --name $N set k$i v; sleep 1; done
echo "journals: $(ls $T/d1 | grep -c journal-)  snapshots: $(ls $T/d1 | grep -c 'snapshot-.*msgpack$')"
$B --name $N destroy
rm -rf $T
