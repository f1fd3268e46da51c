"""bench.py: single-thread ops/s of the Python binding's get and incr (see run.sh).
    python3 bench.py STORE OPS     (SHMKV_LIBRARY, PYTHONPATH as for the tests)
"""
import sys
import time

import shmkv

name, ops = sys.argv[1], int(sys.argv[2])
KEYS = 100000
kv = shmkv.open(name, size_bytes=64 << 20)
value = "v" * 100
keys = [f"key:{i:08d}" for i in range(KEYS)]
for k in keys:
    kv.set(k, value)
order = [keys[(i * 7919) % KEYS] for i in range(KEYS)]  # the permutation bench.js uses
counters = [k + ":n" for k in order[:1000]]


def timed(label, body):
    start = time.perf_counter()
    check = body()
    seconds = time.perf_counter() - start
    print(f"python {label} {round(ops / seconds)} ops/s (check {check})")


def gets():
    total = 0
    for i in range(ops):
        total += len(kv.get(order[i % KEYS]))
    return total


def incrs():
    total = 0
    for i in range(ops):
        total += kv.incr(counters[i % 1000], 1)
    return total


timed("get", gets)
timed("incr", incrs)
kv.close()
