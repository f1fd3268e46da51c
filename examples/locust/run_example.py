#!/usr/bin/python3
"""Runs Locust headless (one master plus --workers worker processes, all on this host) against a
local HTTP server on 127.0.0.1, with the users of every worker sharing state through shmkv
(see locustfile.py), then checks the shared result against what the server received:

  - every order id was claimed once: each order:<id> key in the store was POSTed exactly once,
    and nothing else was;
  - the shmkv request counter equals the requests sent (server received == Locust's count);
  - every token was used once: the pool is empty and the server saw each token exactly once.

The store is a shared-memory segment of this host unless --redis or --url is given. Then it lives
on a Redis server and every process (this runner, the master, each worker) opens it by URL
only, as processes on separate hosts would:
  --redis      starts a redis-server of its own on a unix socket in a temporary directory
               (`--port 0 --save '' --appendonly no`; needs the Debian package redis-server),
               stops it at the end;
  --url URL    uses the server at URL (redis://host:port[/db] or unix:///path/redis.sock),
               e.g. one the worker hosts of a real test would reach; the store, named
               locust-example-<pid>, is destroyed at the end.

Exits 0 and prints the result if every check holds, 1 otherwise. Needs the Debian package
python3-locust, and shmkv's Python package (PYTHONPATH=bindings/python, SHMKV_LIBRARY=path of
libshmkv.so) unless installed.
"""

import argparse
import csv
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "common"))

from locust_cluster import LocustCluster, locust_and_shmkv, tail  # noqa: E402
from witness_server import WitnessServer  # noqa: E402


def fail(message):
    print(f"locust example: FAILED: {message}", file=sys.stderr)
    sys.exit(1)


def start_redis(workdir):
    """A redis-server of this run's own on a unix socket in workdir: (process, url)."""
    binary = shutil.which("redis-server")
    if binary is None:
        fail("redis-server not found: install the Debian package redis-server")
    sock = os.path.join(workdir, "redis.sock")
    log = open(os.path.join(workdir, "redis.log"), "w+")
    proc = subprocess.Popen(
        [binary, "--port", "0", "--unixsocket", sock, "--unixsocketperm", "700", "--save", "",
         "--appendonly", "no", "--dir", workdir],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            fail(f"redis-server exited with {proc.returncode} at start:\n" + tail(log))
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.connect(sock)
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return proc, "unix://" + sock
        except OSError:
            pass
        time.sleep(0.02)
    proc.kill()
    proc.wait()
    fail("redis-server did not answer PING within 10 s:\n" + tail(log))


def stop_redis(proc):
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def locust_total(csv_prefix):
    """(requests, failures) of the Aggregated row of Locust's --csv stats."""
    with open(csv_prefix + "_stats.csv", newline="") as f:
        for row in csv.DictReader(f):
            if row["Name"] == "Aggregated":
                return int(row["Request Count"]), int(row["Failure Count"])
    raise RuntimeError("no Aggregated row in " + csv_prefix + "_stats.csv")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=int, default=10, help="seconds of load (default 10)")
    ap.add_argument("--workers", type=int, default=3, help="worker processes (default 3)")
    ap.add_argument("--users", type=int, default=30, help="simulated users (default 30)")
    ap.add_argument("--tokens", type=int, default=200, help="tokens in the pool (default 200)")
    ap.add_argument("--locust", default="locust", help="locust executable")
    where = ap.add_mutually_exclusive_group()
    where.add_argument("--redis", action="store_true",
                       help="keep the store on a redis-server started for this run")
    where.add_argument("--url", help="keep the store on the Redis server at this URL")
    args = ap.parse_args()

    locust, shmkv = locust_and_shmkv(args.locust, fail)

    name = f"locust-example-{os.getpid()}"
    order_ids = max(5000, args.duration * 4000)
    workdir = tempfile.mkdtemp(prefix="shmkv-locust-")
    redis = None
    url = args.url
    try:
        if args.redis:
            redis, url = start_redis(workdir)
        # Where the store lives is all a process needs to share it: a URL for Redis.
        where = {"url": url} if url else {"size_bytes": 64 << 20}
        with shmkv.open(name, open_mode="create_only", text=True, **where) as kv, \
                WitnessServer() as server:
            for i in range(args.tokens):
                kv.set(f"token:{i:06d}", "unused")
            env = dict(os.environ, SHMKV_EXAMPLE_STORE=name, SHMKV_EXAMPLE_URL=url or "",
                       SHMKV_EXAMPLE_ORDER_IDS=str(order_ids))
            csv_prefix = os.path.join(workdir, "stats")
            with LocustCluster(locust, os.path.join(HERE, "locustfile.py"), args.workers,
                               args.users, args.duration, server.url, env, workdir,
                               extra=["--csv", csv_prefix]) as cluster:
                elapsed = cluster.wait(fail)
                log_tail = cluster.log_tail()
                # --exit-code-on-error defaults to 1 when any request failed.
                codes = cluster.returncodes()
                if codes[0] not in (0, 1) or any(c != 0 for c in codes[1:]):
                    fail(f"locust exited with {codes}; log:\n" + log_tail)
            time.sleep(0.2)  # let the server's threads finish their last responses

            requests = int(kv.get("requests") or 0)
            failures = int(kv.get("failures") or 0)
            won = int(kv.get("claims:won") or 0)
            lost = int(kv.get("claims:lost") or 0)
            locust_requests, locust_failures = locust_total(csv_prefix)
            received, seen = server.snapshot()
            claimed = {e.key[len("order:"):]: e.value for e in kv.list("order:")}
            posted = seen.get("order", {})
            tokens_seen = seen.get("token", {})
            tokens_left = kv.count("token:")

            engine = kv.info().engine
            problems = []
            if engine != ("redis" if url else "shm"):
                problems.append(f"the store's engine is {engine!r}")
            if requests == 0:
                problems.append("no request was sent")
            if not (requests == received == locust_requests):
                problems.append(f"request counter {requests} != server received {received} "
                                f"!= locust reported {locust_requests}")
            if failures or locust_failures:
                problems.append(f"{failures} failed requests ({locust_failures} per Locust)")
            twice = {i: n for i, n in posted.items() if n != 1}
            if twice:
                problems.append(f"order ids POSTed more than once: {dict(list(twice.items())[:5])}")
            if set(posted) != set(claimed):
                problems.append(f"claimed ids and POSTed ids differ: "
                                f"{sorted(set(posted) ^ set(claimed))[:5]}")
            if won != len(claimed):
                problems.append(f"claims won {won} != order keys {len(claimed)}")
            owners = {v.split("/")[0] for v in claimed.values()}
            if len(owners) != args.workers:
                problems.append(f"orders were claimed from {len(owners)} processes, expected "
                                f"{args.workers} (one per worker)")
            reused = {t: n for t, n in tokens_seen.items() if n != 1}
            if reused:
                problems.append(f"tokens used more than once: {dict(list(reused.items())[:5])}")
            expected_tokens = {f"{i:06d}" for i in range(args.tokens)}
            if tokens_left or set(tokens_seen) != expected_tokens:
                problems.append(f"tokens: {len(tokens_seen)} of {args.tokens} used, "
                                f"{tokens_left} left in the pool")
            print(f"locust example: {args.workers} worker processes x {args.users} users for "
                  f"{args.duration} s (wall {elapsed:.1f} s) against {server.url}")
            print(f"  store: '{name}', engine {engine}: " +
                  (f"on the Redis server {url}, opened by URL in every process" if url
                   else "in this host's shared memory"))
            print(f"  requests: shmkv counter {requests} = server received {received} = "
                  f"locust reported {locust_requests}")
            print(f"  order ids: {len(claimed)} claimed once each with get_or_set by users in "
                  f"{len(owners)} processes ({lost} lost races), each POSTed exactly once")
            print(f"  tokens: {len(tokens_seen)} of {args.tokens} popped with pop_random and used "
                  f"exactly once each, {tokens_left} left")
            if problems:
                fail("; ".join(problems) + "\nlocust log:\n" + log_tail)
            print("locust example: OK")
    finally:
        if redis is not None:
            stop_redis(redis)  # the store goes with it: the server saves nothing
        else:
            try:
                shmkv.destroy(name, url=url)
            except shmkv.Error:
                pass
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
