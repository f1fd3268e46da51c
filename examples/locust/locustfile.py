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
import sys

from locust import HttpUser, constant, task

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from locust_cluster import patch_locust_version, store_opener  # noqa: E402

patch_locust_version()

STORE = os.environ.get("SHMKV_EXAMPLE_STORE", "locust-example")
URL = os.environ.get("SHMKV_EXAMPLE_URL", "")
ORDER_IDS = int(os.environ.get("SHMKV_EXAMPLE_ORDER_IDS", "5000"))

kv = store_opener(STORE, URL)  # this process's handle: kv()


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
