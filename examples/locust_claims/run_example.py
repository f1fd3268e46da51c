#!/usr/bin/python3
"""Runs Locust headless (one master plus --workers worker processes on this host) whose users
take test accounts from a pool with shmkv claims (see locustfile.py), SIGKILLs one worker while
its users hold accounts, and checks through a local HTTP server's record (127.0.0.1) that:

  - no account was ever in use by two live processes at once (the server flags a login while
    another live process has a session open on the account);
  - every account that the killed worker held came back to the pool and was logged into by
    another worker within the test, although the claims' lease (60 s) outlasts the test: death,
    not expiry, gave them back;
  - every account was used, no claim was taken back from a live holder, nothing failed, and at
    the end every account can be claimed again (no claim is left held by the dead worker).

Exits 0 and prints the result if every check holds, 1 otherwise. Needs the Debian package
python3-locust and shmkv's Python package (PYTHONPATH=bindings/python, SHMKV_LIBRARY=path of
libshmkv.so) unless installed. The store is a shared-memory segment: claims end with their
holder's process there (on a Redis store only leases would end them).
"""

import argparse
import os
import shutil
import signal
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "common"))

from locust_cluster import LocustCluster, locust_and_shmkv  # noqa: E402
from witness_server import WitnessServer  # noqa: E402


def fail(message):
    print(f"locust claims example: FAILED: {message}", file=sys.stderr)
    sys.exit(1)


def kill_worker_holding_accounts(victim, server, deadline):
    """SIGKILLs victim once the server shows it in sessions on two accounts (on one, after the
    first two seconds): (kill time, accounts it held)."""
    prefer_until = time.monotonic() + 2
    while time.monotonic() < deadline:
        held = server.open_sessions(victim.pid)
        if len(held) >= (2 if time.monotonic() < prefer_until else 1):
            os.kill(victim.pid, signal.SIGKILL)
            return time.monotonic(), held
        time.sleep(0.002)
    fail(f"worker {victim.pid} never held an account")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=int, default=12, help="seconds of load (default 12)")
    ap.add_argument("--workers", type=int, default=3, help="worker processes (default 3)")
    ap.add_argument("--users", type=int, default=9, help="simulated users (default 9)")
    ap.add_argument("--accounts", type=int, default=12, help="accounts in the pool (default 12)")
    ap.add_argument("--locust", default="locust", help="locust executable")
    args = ap.parse_args()
    if args.workers < 2:
        fail("--workers must be at least 2: one of them is killed")

    locust, shmkv = locust_and_shmkv(args.locust, fail)

    name = f"locust-claims-example-{os.getpid()}"
    lease = 60
    workdir = tempfile.mkdtemp(prefix="shmkv-locust-claims-")
    try:
        with shmkv.open(name, open_mode="create_only", text=True, size_bytes=16 << 20) as kv, \
                WitnessServer() as server:
            accounts = [f"{i:04d}" for i in range(args.accounts)]
            for a in accounts:
                kv.set(f"account:{a}", f"password-{a}")
            env = dict(os.environ, SHMKV_EXAMPLE_STORE=name, SHMKV_EXAMPLE_LEASE=str(lease))
            with LocustCluster(locust, os.path.join(HERE, "locustfile.py"), args.workers,
                               args.users, args.duration, server.url, env, workdir) as cluster:
                # Kill the first worker a third of the way in, once its users hold accounts.
                while not server.logins and time.monotonic() < cluster.started + 60:
                    time.sleep(0.01)
                load_start = time.monotonic()
                time.sleep(args.duration / 3)
                victim = cluster.workers[0]
                killed_at, held = kill_worker_holding_accounts(victim, server,
                                                               load_start + args.duration)
                elapsed = cluster.wait(fail)
                codes = cluster.returncodes()
                log_tail = cluster.log_tail()
            problems = []
            if victim.returncode != -signal.SIGKILL:
                problems.append(f"the killed worker exited with {victim.returncode}")
            # The master's exit code may be 1 (--exit-code-on-error) for the killed worker's
            # interrupted requests; the checks below read the server's record instead.
            if any(c != 0 for c in codes[2:]) or codes[0] not in (0, 1):
                problems.append(f"locust exited with {codes}")
            total, seen = server.snapshot()
            logins = list(server.logins)
            used = {a for _, a, _ in logins}
            if used != set(accounts):
                problems.append(f"accounts never used: {sorted(set(accounts) - used)[:10]}")
            if server.overlaps:
                problems.append(f"accounts in use by two live processes at once: "
                                f"{server.overlaps[:5]}")
            came_back = {}
            for t, a, holder in logins:
                if a in held and a not in came_back and t > killed_at and holder != victim.pid:
                    came_back[a] = t - killed_at
            if set(came_back) != set(held):
                problems.append(f"accounts the killed worker held that never came back: "
                                f"{sorted(set(held) - set(came_back))}")
            lost = int(kv.get("lost_claims") or 0)
            if lost:
                problems.append(f"{lost} claims were taken back from a live holder")
            if seen.get("login", {}) and sum(seen["login"].values()) != len(logins):
                problems.append("logins without an X-Holder header")
            # Every worker is gone now: every account must be free for a claim.
            claimed = [kv.claim_random("account:", lease) for _ in accounts]
            if None in claimed or {c.key for c in claimed} != {f"account:{a}" for a in accounts}:
                problems.append(f"after the test only {sum(c is not None for c in claimed)} of "
                                f"{len(accounts)} accounts could be claimed")
            print(f"locust claims example: {args.workers} worker processes x {args.users} users "
                  f"on {len(accounts)} accounts for {args.duration} s (wall {elapsed:.1f} s) "
                  f"against {server.url}")
            print(f"  {len(logins)} logins, {total} requests, "
                  f"{int(kv.get('pool_empty') or 0)} claims found the pool empty")
            print(f"  worker {victim.pid} SIGKILLed holding {len(held)} accounts {held} "
                  f"(claim lease {lease} s); each logged into again by another worker after " +
                  ", ".join(f"{came_back[a] * 1000:.0f} ms" for a in sorted(came_back)))
            if problems:
                fail("; ".join(problems) + "\nlocust log:\n" + log_tail)
            print("locust claims example: OK")
    finally:
        try:
            shmkv.destroy(name)
        except shmkv.Error:
            pass
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
