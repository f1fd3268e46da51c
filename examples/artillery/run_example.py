#!/usr/bin/python3
"""Runs several `artillery run` processes at once (each with Artillery's local worker threads:
one per CPU but one, at least one) with scenario.yml against a local HTTP server on 127.0.0.1;
every worker of every process shares one request counter, one pool of test accounts and one
leader election through shmkv's Node binding (processor.js). Then checks the shared result
against Artillery's own reports and what the server received:

  - the shared request and response counters equal the requests and responses Artillery
    reported (all processes summed) and what the server received (Artillery waits for every
    virtual user to finish, so nothing is in flight at the end), all 200;
  - every account was used once: no account was handed out twice, the server received each
    popped account exactly once, and popped + left in the pool = seeded;
  - exactly one leader: the server received one /leader/<id> request, from the worker whose id
    the store holds under "leader";
  - more than one worker counted requests (several processes, or threads, shared the store).

With --orders it then runs order-claiming.yml (xk6-kv's order-claiming scenario, ported in
docs/migrating-from-xk6-kv.md) the same way and checks that every virtual user claimed an order
with getOrSet and released it with compareAndDelete, that no order was ever held by two users
(Artillery's ensure check on orders.double_claimed), that the server received one /order/<id>
request per claim and that every order was released.

Exits 0 and prints the result if every check holds, 1 otherwise. Needs Artillery (npm install
in this directory, or --artillery PATH), the Node binding (SHMKV_NODE_ADDON, built by CMake) and,
for this runner, shmkv's Python package (PYTHONPATH, SHMKV_LIBRARY).
"""

import argparse
import json
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(HERE, "..", "common"))

from load_processes import run_together  # noqa: E402
from witness_server import WitnessServer  # noqa: E402


def fail(message):
    print(f"artillery example: FAILED: {message}", file=sys.stderr)
    sys.exit(1)


def counter_sum(reports, name):
    return sum(r["aggregate"]["counters"].get(name, 0) for r in reports)


def check_order_claiming(args, kv, server, env, scratch):
    outputs = [os.path.join(scratch, f"orders-{i}.json") for i in range(args.processes)]
    overrides = json.dumps({"config": {"phases": [
        {"duration": args.duration, "arrivalRate": args.rate}]}})
    commands = [[args.artillery, "run", "--quiet", "--target", server.url, "--overrides",
                 overrides, "--output", out, os.path.join(HERE, "order-claiming.yml")]
                for out in outputs]
    # A double claim makes Artillery's ensure check fail, and artillery exit 1.
    run_together(commands, env, args.duration + 90, "artillery (order-claiming.yml)", fail)
    time.sleep(0.2)
    reports = [json.load(open(out)) for out in outputs]
    claimed = counter_sum(reports, "orders.claimed")
    double = counter_sum(reports, "orders.double_claimed")
    failed = counter_sum(reports, "vusers.failed")
    users = counter_sum(reports, "vusers.created")
    requested = sum(server.snapshot()[1].get("order", {}).values())
    held = kv.count("order-")
    print(f"  order claiming (xk6-kv's scenario): {users} users claimed {claimed} orders with "
          f"getOrSet, {double} held twice, {requested} /order requests, {held} still held")
    if not (users == claimed == requested > 0 and double == 0 and failed == 0 and held == 0):
        fail(f"order claiming: {users} users, {claimed} claims, {double} double claims, "
             f"{failed} failed users, {requested} requests, {held} orders still held")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=int, default=10, help="seconds of arrivals (default 10)")
    ap.add_argument("--rate", type=int, default=20,
                    help="virtual users arriving per second, per process (default 20)")
    ap.add_argument("--processes", type=int, default=2,
                    help="artillery run processes (default 2)")
    ap.add_argument("--accounts", type=int, default=150,
                    help="test accounts in the pool (default 150)")
    ap.add_argument("--orders", action="store_true",
                    help="then run the ported xk6-kv order-claiming scenario too")
    ap.add_argument("--artillery", default=os.path.join(HERE, "node_modules", ".bin", "artillery"),
                    help="the artillery executable (default: this directory's node_modules)")
    args = ap.parse_args()

    if not os.access(args.artillery, os.X_OK):
        fail(f"'{args.artillery}' not found: run `PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install` "
             f"in {HERE} (or pass --artillery)")
    addon = os.environ.get("SHMKV_NODE_ADDON")
    if not addon or not os.path.exists(addon):
        fail("SHMKV_NODE_ADDON must name the built addon (build/bindings/node/shmkv.node)")
    try:
        import shmkv
    except ImportError as e:
        fail(f"cannot import shmkv ({e}); set PYTHONPATH=<repo>/bindings/python and "
             "SHMKV_LIBRARY=<build>/bindings/libshmkv.so")

    name = f"artillery-example-{os.getpid()}"
    scratch = tempfile.mkdtemp(prefix="shmkv-artillery-")
    try:
        with shmkv.open(name, open_mode="create_only", size_bytes=32 << 20, text=True) as kv, \
                WitnessServer() as server:
            kv.set_many({f"account:{i:05d}": "unused" for i in range(args.accounts)})
            env = dict(os.environ, SHMKV_EXAMPLE_STORE=name,
                       SHMKV_NODE_PACKAGE=os.path.join(REPO, "bindings", "node"),
                       ARTILLERY_DISABLE_TELEMETRY="true", DO_NOT_TRACK="1")
            overrides = json.dumps({"config": {"phases": [
                {"duration": args.duration, "arrivalRate": args.rate}]}})
            outputs = [os.path.join(scratch, f"report-{i}.json") for i in range(args.processes)]
            commands = [[args.artillery, "run", "--quiet", "--target", server.url,
                         "--overrides", overrides, "--output", out,
                         os.path.join(HERE, "scenario.yml")] for out in outputs]
            started = time.monotonic()
            logs = run_together(commands, env, args.duration + 90, "artillery", fail)
            elapsed = time.monotonic() - started
            time.sleep(0.2)  # let the server's threads record the last requests
            reports = [json.load(open(out)) for out in outputs]

            def counter(key):
                return int(kv.get(key) or 0)

            requests, responses = counter("requests"), counter("responses")
            bad_status, reused = counter("bad_status"), counter("accounts:reused")
            art_requests = counter_sum(reports, "http.requests")
            art_responses = counter_sum(reports, "http.responses")
            art_ok = counter_sum(reports, "http.codes.200")
            vusers_failed = counter_sum(reports, "vusers.failed")
            received, seen = server.snapshot()
            accounts_seen = seen.get("account", {})
            leaders_seen = seen.get("leader", {})
            left = kv.count("account:")
            used = {e.key[len("used:account:"):]: e.value for e in kv.list("used:")}
            workers = {e.key[len("requests:"):] for e in kv.list("requests:")}
            leader = kv.get("leader")

            problems = []
            if requests == 0:
                problems.append("no request was sent")
            if not requests == responses == art_requests == art_responses == art_ok == received:
                problems.append(f"shared counters: {requests} requests, {responses} responses; "
                                f"artillery: {art_requests} requests, {art_responses} responses, "
                                f"{art_ok} 200s; server received {received}")
            if bad_status or vusers_failed:
                problems.append(f"{bad_status} non-200 responses, {vusers_failed} failed users")
            if reused:
                problems.append(f"{reused} accounts were handed out twice")
            twice = {a: n for a, n in accounts_seen.items() if n != 1}
            if twice:
                problems.append(f"accounts requested more than once: {dict(list(twice.items())[:5])}")
            if set(accounts_seen) != set(used) or len(used) + left != args.accounts:
                problems.append(f"accounts: {len(accounts_seen)} reached the server, {len(used)} "
                                f"recorded as used, {left} left of {args.accounts}")
            if leader is None or list(leaders_seen.items()) != [(leader.replace("/", "-"), 1)]:
                problems.append(f"leader: the store holds {leader!r}, the server saw "
                                f"{dict(leaders_seen)}")
            if len(workers) < 2:
                problems.append(f"only {len(workers)} worker(s) counted requests")

            print(f"artillery example: {args.processes} artillery processes, {len(workers)} "
                  f"workers in all, {args.rate} users/s each for {args.duration} s "
                  f"(wall {elapsed:.1f} s) against {server.url}")
            print(f"  requests: shared counter {requests} = {responses} responses = "
                  f"{art_requests} reported by artillery = {received} received by the server")
            print(f"  accounts: {len(used)} of {args.accounts} popped with popRandom, each used "
                  f"exactly once, {left} left")
            print(f"  leader: {leader} (elected with setIfAbsent; one /leader request)")
            if problems:
                fail("; ".join(problems) + "\nartillery output:\n" + "\n".join(logs))
            if args.orders:
                check_order_claiming(args, kv, server, env, scratch)
            print("artillery example: OK")
    finally:
        try:
            shmkv.destroy(name)
        except shmkv.Error:
            pass
        for f in os.listdir(scratch):
            os.remove(os.path.join(scratch, f))
        os.rmdir(scratch)


if __name__ == "__main__":
    main()
