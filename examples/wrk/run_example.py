#!/usr/bin/python3
"""Runs two wrk processes at once (-t 4 each) with shared_state.lua against a local HTTP server
on 127.0.0.1; all their threads share one request counter and one token pool through shmkv.
Then checks the shared result against wrk's own reports and what the server received:

  - the shared response counter equals the requests wrk reported (both processes summed), and
    the shared request counter equals the requests sent: every counted request reached the
    server, except at most one in flight per connection when wrk stopped;
  - every token was used once: the pool is empty, no token was handed out twice, and the server
    received each token exactly once.

Exits 0 and prints the result if every check holds, 1 otherwise. Needs the Debian package wrk,
and libshmkv.so (SHMKV_LIBRARY) plus shmkv's Python package (PYTHONPATH) for this runner.
"""

import argparse
import os
import shutil
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(HERE, "..", "common"))

from load_processes import run_together  # noqa: E402
from witness_server import WitnessServer  # noqa: E402


def fail(message):
    print(f"wrk example: FAILED: {message}", file=sys.stderr)
    sys.exit(1)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=int, default=10, help="seconds of load (default 10)")
    ap.add_argument("--processes", type=int, default=2, help="wrk processes (default 2)")
    ap.add_argument("--threads", type=int, default=4, help="threads per wrk (default 4)")
    ap.add_argument("--connections", type=int, default=8, help="connections per wrk (default 8)")
    ap.add_argument("--tokens", type=int, default=500, help="tokens in the pool (default 500)")
    ap.add_argument("--wrk", default="wrk", help="wrk executable")
    args = ap.parse_args()

    wrk = shutil.which(args.wrk)
    if wrk is None:
        fail(f"'{args.wrk}' not found: install the Debian package wrk (apt-get install wrk)")
    try:
        import shmkv
    except ImportError as e:
        fail(f"cannot import shmkv ({e}); set PYTHONPATH=<repo>/bindings/python and "
             "SHMKV_LIBRARY=<build>/bindings/libshmkv.so")

    lua_dir = os.environ.get("SHMKV_LUA_DIR") or os.path.join(REPO, "bindings", "lua")
    name = f"wrk-example-{os.getpid()}"
    try:
        with shmkv.open(name, open_mode="create_only", size_bytes=64 << 20, text=True) as kv, \
                WitnessServer() as server:
            for i in range(args.tokens):
                kv.set(f"token:{i:06d}", "unused")
            env = dict(os.environ, SHMKV_EXAMPLE_STORE=name,
                       LUA_PATH=f"{lua_dir}/?.lua;;", SHMKV_LIBRARY=shmkv.library_path)
            cmd = [wrk, "-t", str(args.threads), "-c", str(args.connections),
                   "-d", f"{args.duration}s", "-s", os.path.join(HERE, "shared_state.lua"),
                   server.url + "/"]
            started = time.monotonic()
            outputs = run_together([cmd] * args.processes, env, args.duration + 60, "wrk", fail)
            elapsed = time.monotonic() - started
            time.sleep(0.2)  # let the server's threads record the last requests

            def counter(key):
                return int(kv.get(key) or 0)

            requests, responses = counter("requests"), counter("responses")
            wrk_requests, wrk_processes = counter("wrk:requests"), counter("wrk:processes")
            socket_errors, bad_status = counter("wrk:socket_errors"), counter("bad_status")
            reused = counter("tokens:reused")
            received, seen = server.snapshot()
            tokens_seen = seen.get("token", {})
            tokens_left = kv.count("token:")
            used = {e.key[len("used:"):]: e.value for e in kv.list("used:")}
            users = {v.split("/")[0] for v in used.values()}
            in_flight = requests - responses
            max_in_flight = args.processes * args.connections + socket_errors

            problems = []
            if wrk_processes != args.processes:
                problems.append(f"{wrk_processes} of {args.processes} wrk processes reported")
            if responses == 0:
                problems.append("no request completed")
            if responses != wrk_requests:
                problems.append(f"shared response counter {responses} != requests reported by "
                                f"wrk {wrk_requests}")
            if not (responses <= received <= requests and 0 <= in_flight <= max_in_flight):
                problems.append(f"shared request counter {requests}, responses {responses}, "
                                f"server received {received}: more than {max_in_flight} "
                                "requests unaccounted for")
            if bad_status:
                problems.append(f"{bad_status} responses with a status other than 200")
            if reused:
                problems.append(f"{reused} tokens were handed out twice")
            twice = {t: n for t, n in tokens_seen.items() if n != 1}
            if twice:
                problems.append(f"tokens requested more than once: {dict(list(twice.items())[:5])}")
            expected = {f"{i:06d}" for i in range(args.tokens)}
            if tokens_left or set(tokens_seen) != expected or set(used) != {
                    f"token:{t}" for t in expected}:
                problems.append(f"tokens: {len(tokens_seen)} of {args.tokens} reached the server, "
                                f"{len(used)} recorded as used, {tokens_left} left in the pool")

            for out in outputs:
                for line in out.splitlines():
                    if line.startswith("wrk pid") or "requests in" in line:
                        print("  " + line.strip())
            print(f"wrk example: {args.processes} wrk processes x {args.threads} threads x "
                  f"{args.connections // args.threads} connections for {args.duration} s "
                  f"(wall {elapsed:.1f} s) against {server.url}")
            print(f"  requests: shared counter {requests} sent = {responses} completed "
                  f"(= {wrk_requests} reported by wrk) + {in_flight} in flight at the stop; "
                  f"server received {received}")
            print(f"  tokens: {len(tokens_seen)} of {args.tokens} popped with pop_random by "
                  f"threads of {len(users)} wrk processes, each used exactly once, "
                  f"{tokens_left} left")
            if problems:
                fail("; ".join(problems) + "\nwrk output:\n" + "\n".join(outputs))
            print("wrk example: OK")
    finally:
        try:
            shmkv.destroy(name)
        except shmkv.Error:
            pass


if __name__ == "__main__":
    main()
