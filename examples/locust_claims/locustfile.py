"""Locust users that take test accounts from a pool shared by every worker process, with shmkv
claims (issue 16).

The store named by $SHMKV_EXAMPLE_STORE (created by run_example.py) holds the pool:
account:<n> = that account's password. Every simulated user, whatever worker process it runs in,
loops:
  - claim_random("account:", lease): one account that no live process holds; the lease (60 s by
    default) outlasts the test, so an account comes back only by release or by its holder's death;
  - logs in (POST /login/<n>), browses twice (GET /account/<n>), logs out (POST /logout/<n>),
    each request carrying "X-Holder: <pid>" so that the server can tell who uses the account;
  - release(): the account goes back to the pool.
A worker that is SIGKILLed mid-test never releases what its users held; the next claim_random
of any other process finds the holder dead and the accounts free again. run_example.py kills
one worker and checks, through the server's record, that no account was ever used by two live
processes at once and that the dead worker's accounts were used again within the test.
"""

import os
import sys

import gevent
from locust import HttpUser, constant, task

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from locust_cluster import patch_locust_version, store_opener  # noqa: E402

patch_locust_version()

STORE = os.environ.get("SHMKV_EXAMPLE_STORE", "locust-claims-example")
LEASE = float(os.environ.get("SHMKV_EXAMPLE_LEASE", "60"))

kv = store_opener(STORE)  # this process's handle: kv()


class Tester(HttpUser):
    wait_time = constant(0)

    def on_start(self):
        self.headers = {"X-Holder": str(os.getpid())}

    def _send(self, method, kind, account):
        with self.client.request(method, f"/{kind}/{account}", name=f"/{kind}/[n]",
                                 headers=self.headers, catch_response=True) as r:
            if r.status_code != 200:
                r.failure(f"status {r.status_code}")

    @task
    def session(self):
        claim = kv().claim_random("account:", LEASE)
        if claim is None:  # every account is in use: more users than accounts
            kv().incr("pool_empty")
            gevent.sleep(0.01)
            return
        account = claim.key[len("account:"):]
        self._send("POST", "login", account)
        self._send("GET", "account", account)
        self._send("GET", "account", account)
        self._send("POST", "logout", account)
        if not kv().release(claim.key, claim.token):
            kv().incr("lost_claims")  # taken back while held: must never happen here
