"""Claims, locks and semaphores (issue 16) through the binding. The holders that die are real
forked processes, SIGKILLed: what they held must be free at the next attempt, long before any
lease runs out."""
import os
import signal
import threading
import time

import pytest

import shmkv

LONG_LEASE = 60  # seconds: never runs out during a test, so only a death frees a grant


def _hold(name, take, **open_options):
    """Forks a child that opens the store (with open_options), calls take(store) (it must
    succeed), writes one byte to a pipe and sleeps until killed. Returns its pid once it holds
    what it took."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(r)
            s = shmkv.open(name, **open_options)
            if take(s):
                os.write(w, b"x")
                while True:
                    time.sleep(60)
        finally:
            os._exit(code)
    os.close(w)
    got = os.read(r, 1)
    os.close(r)
    assert got == b"x", "the child did not take what it should hold"
    return pid


def _killed(pid):
    os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    return os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL


def test_claim_renew_release_complete_fenced_by_tokens(store):
    assert store.claim("acct:1", LONG_LEASE) is None  # absent
    store.set("acct:1", "alice")
    c = store.claim("acct:1", LONG_LEASE)
    assert c == shmkv.Claim(b"acct:1", b"alice", c.token) and c.token > 0
    assert store.get("acct:1") == b"alice"  # a claimed key stays visible
    assert store.claim("acct:1", LONG_LEASE) is None
    assert store.claim_random("acct:", LONG_LEASE) is None
    assert store.pop_random("acct:") is None
    assert not store.renew("acct:1", c.token + 1, LONG_LEASE)
    assert not store.release("acct:1", c.token + 1)
    assert not store.complete("acct:1", c.token + 1)
    assert store.renew("acct:1", c.token, LONG_LEASE)
    assert store.release("acct:1", c.token)
    assert not store.release("acct:1", c.token)  # given back already
    again = store.claim_random("acct:", LONG_LEASE)
    assert again.key == b"acct:1" and again.value == b"alice" and again.token > c.token
    assert not store.complete("acct:1", c.token)
    assert store.complete("acct:1", again.token)
    assert store.get("acct:1") is None
    assert store.check_invariants() == []


def test_arguments_are_checked(store):
    store.set("k", "v")
    with pytest.raises(shmkv.InvalidArgumentError, match="lease 0 ms"):
        store.claim("k", 0)
    with pytest.raises(shmkv.InvalidArgumentError, match="lease"):
        store.lock("l", -1)
    with pytest.raises(shmkv.InvalidArgumentError, match="permits is 0"):
        store.acquire("sem", 0)
    with pytest.raises(shmkv.ArgumentTypeError, match="token"):
        store.release("k", "1")
    with pytest.raises(shmkv.InvalidArgumentError, match="token"):
        store.unlock("l", -1)
    with pytest.raises(shmkv.InvalidArgumentError, match="name is empty"):
        store.lock("", LONG_LEASE)
    assert store.claim("k", LONG_LEASE) is not None  # nothing was claimed by the bad calls


def test_text_store_returns_str():
    with shmkv.open("py-coord-text-%d" % os.getpid(), text=True) as s:
        try:
            s.set("acct:1", "alice")
            assert s.claim_random("acct:", LONG_LEASE)[:2] == ("acct:1", "alice")
        finally:
            shmkv.destroy(s.name)


def test_a_sigkilled_holders_claim_is_free_at_the_next_attempt(store, name):
    store.set("acct:1", "alice")
    pid = _hold(name, lambda s: s.claim("acct:1", LONG_LEASE) is not None)
    assert store.claim("acct:1", LONG_LEASE) is None  # its holder lives
    assert _killed(pid)
    assert store.claim("acct:1", LONG_LEASE) is not None


def test_lock_waits_and_a_sigkilled_holder_lets_the_waiter_in(store, name):
    pid = _hold(name, lambda s: s.lock("leader", LONG_LEASE) is not None)
    assert store.lock("leader", LONG_LEASE, wait=0.03) is None  # timed out
    killer = threading.Timer(0.1, os.kill, (pid, signal.SIGKILL))
    killer.start()
    # 20 s of waiting against the child's 60 s lease: only the child's death lets this in.
    token = store.lock("leader", LONG_LEASE, wait=20)
    killer.join()
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status)
    assert token is not None
    assert not store.unlock("leader", token + 1)
    assert store.unlock("leader", token)
    assert not store.unlock("leader", token)


def test_acquire_grants_at_most_permits_and_a_killed_holders_permit_returns(store, name):
    pid = _hold(name, lambda s: s.acquire("db", 2) is not None)
    mine = store.acquire("db", 2)
    assert mine is not None
    assert store.acquire("db", 2) is None  # two holders already
    assert _killed(pid)
    other = store.acquire("db", 2, wait=20)
    assert other is not None and other > mine
    assert store.release_permit("db", mine)
    assert not store.release_permit("db", mine)
    assert store.release_permit("db", other)


def test_claims_and_locks_on_a_server_are_freed_when_the_holder_is_killed(redis_url, name):
    with shmkv.open(name, url=redis_url) as s:
        s.set("acct:1", "alice")
        pid = _hold(name, lambda o: o.claim("acct:1", LONG_LEASE) and o.lock("l", LONG_LEASE),
                    url=redis_url)
        assert s.claim("acct:1", LONG_LEASE) is None
        assert s.lock("l", LONG_LEASE) is None
        assert _killed(pid)
        # Free once the server has dropped the dead holder's connection (its event loop reads
        # the closed socket: microseconds, more on a loaded machine).
        deadline = time.monotonic() + 5
        c = s.claim("acct:1", LONG_LEASE)
        while c is None and time.monotonic() < deadline:
            time.sleep(0.001)
            c = s.claim("acct:1", LONG_LEASE)
        assert c is not None and c.value == b"alice"
        token = s.lock("l", LONG_LEASE, wait=5)
        assert token is not None and token > c.token
        assert s.complete("acct:1", c.token) and s.get("acct:1") is None
        assert s.unlock("l", token)
        assert s.check_invariants() == []


def _write_later(name, pairs):
    """Forks a child that opens the store and, 0.1 s apart, sets each (key, value). Returns its
    pid."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            with shmkv.open(name) as s:
                for key, value in pairs:
                    time.sleep(0.1)
                    s.set(key, value)
            code = 0
        finally:
            os._exit(code)
    return pid


def test_wait_for_and_pop_random_wait_wake_when_another_process_writes(store, name):
    assert not store.wait_for("ready", 0)
    assert store.pop_random_wait("job:", 0) is None
    with pytest.raises(shmkv.InvalidArgumentError, match="timeout"):
        store.wait_for("ready", -1)
    pid = _write_later(name, [("ready", "1"), ("job:7", "payload")])
    # 20 s each: only the child's writes end the waits.
    assert store.wait_for("ready", 20)
    assert store.pop_random_wait("job:", 20) == shmkv.Entry(b"job:7", b"payload")
    assert os.waitpid(pid, 0)[1] == 0
    assert store.get("job:7") is None


def test_barrier_indices_and_a_sigkilled_party_breaks_the_round(store, name):
    assert store.barrier("b", 1, 0) == 0
    assert store.barrier("b", 2, 0) is None  # nobody else came
    with pytest.raises(shmkv.InvalidArgumentError, match="parties is 0"):
        store.barrier("b", 0, 0)
    # Two processes pass a 2-party barrier with the indices 0 and 1.
    r, w = os.pipe()
    other = os.fork()
    if other == 0:
        try:
            os.close(r)
            with shmkv.open(name) as s:
                os.write(w, b"%d" % s.barrier("pair", 2, 20))
        finally:
            os._exit(0)
    os.close(w)
    mine = store.barrier("pair", 2, 20)
    theirs = int(os.read(r, 16))
    os.close(r)
    os.waitpid(other, 0)
    assert {mine, theirs} == {0, 1}
    # A child arrives at a 3-party barrier and waits; it is killed while the parent waits too.
    r, w = os.pipe()
    victim = os.fork()
    if victim == 0:
        try:
            os.close(r)
            s = shmkv.open(name)
            os.write(w, b"x")
            s.barrier("trio", 3, 60)
        finally:
            os._exit(0)
    os.close(w)
    assert os.read(r, 1) == b"x"
    os.close(r)
    time.sleep(0.05)  # it has arrived and sleeps
    killer = threading.Timer(0.1, os.kill, (victim, signal.SIGKILL))
    killer.start()
    with pytest.raises(shmkv.BrokenError):
        store.barrier("trio", 3, 20)  # 20 s: only the victim's death ends it early
    killer.join()
    os.waitpid(victim, 0)
    assert store.barrier("trio", 1, 0) == 0  # the next round starts fresh


def test_info_lists_the_grants_and_their_holders(store, name):
    store.set(b"acct:\0\x01long-name", "v")
    c = store.claim(b"acct:\0\x01long-name", LONG_LEASE)
    pid = _hold(name, lambda s: s.lock("leader", LONG_LEASE) is not None)
    try:
        coord = store.info().coordination
        assert coord.used == 2 and coord.capacity > 0 and coord.last_token > c.token
        grants = sorted(coord.grants, key=lambda g: g.token)
        assert grants[0] == shmkv.GrantInfo("claim", b"acct:\0\x01l", 16, c.token, os.getpid(),
                                            True, grants[0].lease_left_ms)
        assert 0 < grants[0].lease_left_ms <= LONG_LEASE * 1000
        assert grants[1].kind == "lock" and grants[1].name_head == b"leader"
        assert grants[1].holder_pid == pid and grants[1].holder_alive
    finally:
        assert _killed(pid)
    assert [g.holder_alive for g in sorted(store.info().coordination.grants,
                                           key=lambda g: g.token)] == [True, False]
