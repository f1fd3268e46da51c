"""Locust users sharing state through shmkv across every worker process.

Each worker process opens the store named by $SHMKV_EXAMPLE_STORE (created and seeded by
run_example.py): on the Redis server at $SHMKV_EXAMPLE_URL when that is set (the URL is all a
worker on another host would need), else in this host's shared memory. Every simulated user,
whatever worker it runs in:
  - first uses up the shared token pool: pop_random("token:") hands each token to exactly one
    user in the whole test, which sends GET /token/<token>;
  - then claims order ids: picks a random id and claims it with get_or_set("order:<id>", me);
    only the winner of a claim sends POST /order/<id> (losers count a lost race);
  - counts every request it sends with incr("requests"), just before sending it.
run_example.py checks the store against what the HTTP server received.
"""

import os
import random

import locust.runners
from locust import HttpUser, constant, task

import shmkv

# Debian bookworm's python3-locust 2.12.1-1 ships an empty locust.__version__, and a master
# rejects workers whose client_ready message carries an empty version ("An old (pre 2.0) worker
# tried to connect"). -1 is Locust's own "skip the version check" value (locust PR #1830).
if not locust.runners.__version__:
    locust.runners.__version__ = -1

STORE = os.environ.get("SHMKV_EXAMPLE_STORE", "locust-example")
URL = os.environ.get("SHMKV_EXAMPLE_URL", "")
ORDER_IDS = int(os.environ.get("SHMKV_EXAMPLE_ORDER_IDS", "5000"))

_kv = None
_kv_pid = None


def kv():
    """This process's handle (opened lazily, and again after a fork)."""
    global _kv, _kv_pid
    if _kv is None or _kv_pid != os.getpid():
        _kv = shmkv.open(STORE, open_mode="attach_only", text=True, url=URL or None)
        _kv_pid = os.getpid()
    return _kv


class Shopper(HttpUser):
    wait_time = constant(0)

    def on_start(self):
        self.me = f"{os.getpid()}/{id(self):x}"

    def _send(self, method, path, name):
        kv().incr("requests")  # counted before sending: counter == requests sent
        with self.client.request(method, path, name=name, catch_response=True) as r:
            if r.status_code != 200:
                kv().incr("failures")
                r.failure(f"status {r.status_code}")

    @task
    def shop(self):
        token = kv().pop_random("token:")
        if token is not None:
            self._send("GET", "/token/" + token.key[len("token:"):], "/token/[t]")
            return
        order_id = random.randrange(ORDER_IDS)
        _, loaded = kv().get_or_set(f"order:{order_id}", self.me)
        if loaded:
            kv().incr("claims:lost")
            return
        kv().incr("claims:won")
        self._send("POST", f"/order/{order_id}", "/order/[id]")
