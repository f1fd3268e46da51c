"""Processes sharing one store: forked (multiprocessing) and spawned children."""
import multiprocessing
import os

import pytest

import shmkv

INCREMENTS, IDS, TOKENS, CHILDREN = 300, 200, 400, 4


def _pop_tokens(s, child):
    """Even children pop one token at a time (pop_random), odd ones in batches of up to 7
    (pop_random_many), against each other."""
    if child % 2 == 0:
        while (e := s.pop_random("token:")) is not None:
            yield e
    else:
        while batch := s.pop_random_many("token:", 7):
            yield from batch


def _worker(name, child, results):
    """Opens its own handle; counts, claims ids with get_or_set, pops tokens."""
    with shmkv.open(name) as s:
        for _ in range(INCREMENTS):
            s.incr("hits")
        claimed = [i for i in range(IDS)
                   if not s.get_or_set(f"order:{i}", f"child-{child}").loaded]
        popped = [e.key.decode() for e in _pop_tokens(s, child)]
    results.put((child, claimed, popped))


def _run(ctx, name):
    with shmkv.open(name, size_bytes=8 << 20, shards=8) as s:
        for i in range(TOKENS):
            s.set(f"token:{i}", "t")
        results = ctx.Queue()
        procs = [ctx.Process(target=_worker, args=(name, c, results)) for c in range(CHILDREN)]
        for p in procs:
            p.start()
        out = [results.get(timeout=120) for _ in procs]
        for p in procs:
            p.join(timeout=120)
            assert p.exitcode == 0
        assert s.get("hits") == str(CHILDREN * INCREMENTS).encode()
        claims = [i for _, claimed, _ in out for i in claimed]
        assert sorted(claims) == list(range(IDS))  # every id claimed exactly once
        for child, claimed, _ in out:  # and the store agrees on who claimed it
            for i in claimed:
                assert s.get(f"order:{i}") == f"child-{child}".encode()
        popped = [t for _, _, toks in out for t in toks]
        assert sorted(popped) == sorted(f"token:{i}" for i in range(TOKENS))
        assert s.count("token:") == 0


def test_forked_processes_share_one_store(name):
    _run(multiprocessing.get_context("fork"), name)


def test_spawned_processes_share_one_store(name):
    _run(multiprocessing.get_context("spawn"), name)


def _use_inherited(store, q):
    try:
        store.set("k", "child")
        q.put("no error")
    except shmkv.ClosedError as e:
        q.put(str(e))
    # Closing the inherited handle must leave the parent's registration alone.
    store.close()
    with shmkv.open(store.name) as own:
        own.set("k", "child")
    q.put("ok")


def test_a_store_inherited_across_fork_raises_closed(store):
    ctx = multiprocessing.get_context("fork")
    store.set("k", "parent")
    q = ctx.Queue()
    p = ctx.Process(target=_use_inherited, args=(store, q))
    p.start()
    message = q.get(timeout=60)
    assert "fork" in message, message
    assert q.get(timeout=60) == "ok"
    p.join(timeout=60)
    assert p.exitcode == 0
    assert store.get("k") == b"child"
    assert any(pr.pid == os.getpid() for pr in store.info().processes)


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_children_see_parent_writes_immediately(name, method):
    ctx = multiprocessing.get_context(method)
    with shmkv.open(name, size_bytes=4 << 20, shards=4) as s:
        s.set("from-parent", "hello")
        q = ctx.Queue()
        p = ctx.Process(target=_echo, args=(name, q))
        p.start()
        assert q.get(timeout=60) == b"hello"
        p.join(timeout=60)
        assert s.get("from-child") == b"hi"


def _echo(name, q):
    with shmkv.open(name) as s:
        q.put(s.get("from-parent"))
        s.set("from-child", "hi")
