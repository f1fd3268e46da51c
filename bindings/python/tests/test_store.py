"""The Python binding: every operation, bytes/str handling, the pythonic conveniences."""
import datetime
import math
import threading
import time

import pytest

import shmkv


def test_set_get_delete_exists(store):
    store.set(b"k", b"v")
    assert store.get(b"k") == b"v"
    assert store.get("k") == b"v"  # str keys are UTF-8
    assert store.get("missing") is None
    assert store.get("missing", b"dflt") == b"dflt"
    assert store.exists("k") and "k" in store
    assert "missing" not in store
    assert store.delete("k") is True
    assert store.delete("k") is False
    assert store.exists("k") is False


def test_str_values_are_utf8_and_binary_is_kept(store):
    store.set("clé", "värde ✓")
    assert store.get("clé") == "värde ✓".encode()
    blob = bytes(range(256))
    store.set(b"\x00bin\xff", blob)
    assert store.get(b"\x00bin\xff") == blob
    store.set("empty", b"")
    assert store.get("empty") == b""
    store.set(bytearray(b"ba"), memoryview(b"mv"))
    assert store.get(b"ba") == b"mv"


def test_text_mode_returns_str(name):
    with shmkv.open(name, text=True, size_bytes=4 << 20, shards=4) as s:
        s.set("k", "é")
        assert s.get("k") == "é"
        assert s.get_or_set("k", "x") == ("é", True)
        assert s.list() == [("k", "é")]
        assert s.random_key() == "k"
        assert s.pop_random() == shmkv.Entry("k", "é")


def test_mapping_protocol(store):
    store["a"] = "1"
    assert store["a"] == b"1"
    assert len(store) == 1
    del store["a"]
    with pytest.raises(KeyError):
        store["a"]
    with pytest.raises(KeyError):
        del store["a"]


def test_set_if_absent(store):
    assert store.set_if_absent("k", "a") is True
    assert store.set_if_absent("k", "b") is False
    assert store.get("k") == b"a"


def test_incr_decr(store):
    assert store.incr("n") == 1
    assert store.incr("n", 41) == 42
    assert store.decr("n", 2) == 40
    assert store.incr("n", -50) == -10
    assert store.get("n") == b"-10"
    store.set("text", "abc")
    with pytest.raises(shmkv.NotANumberError) as e:
        store.incr("text")
    assert "'abc'" in str(e.value) and isinstance(e.value, ValueError)
    store.set("big", str(2**63 - 1))
    with pytest.raises(shmkv.OverflowError) as e:
        store.incr("big")
    assert isinstance(e.value, OverflowError)  # also the built-in
    assert e.value.name == "overflow"
    assert store.get("big") == str(2**63 - 1).encode()


def test_get_or_set(store):
    assert store.get_or_set("o", "first") == shmkv.GetOrSetResult(b"first", False)
    r = store.get_or_set("o", "second")
    assert r.value == b"first" and r.loaded is True
    big = b"x" * 3000  # larger than the first buffer tried: retried with the needed size
    store.set("big", big)
    assert store.get_or_set("big", "y") == (big, True)


def test_swap_cas_cad(store):
    assert store.swap("w", "one") is None
    assert store.swap("w", "two") == b"one"
    assert store.get("w") == b"two"
    assert store.cas("c", None, "v1") is True  # None = only if absent
    assert store.cas("c", None, "v2") is False
    assert store.cas("c", "nope", "v2") is False
    assert store.cas("c", "v1", "") is True
    assert store.cas("c", "", "v3") is True  # empty expected is not "absent"
    assert store.cad("c", "nope") is False
    assert store.cad("c", b"v3") is True
    assert store.exists("c") is False


def test_ttl_and_expire(store):
    assert store.ttl("k") is None
    store.set("k", "v")
    assert store.ttl("k") == math.inf
    assert store.expire("k", 60) is True
    assert 50 < store.ttl("k") <= 60
    assert store.expire("k", datetime.timedelta(minutes=2)) is True
    assert 110 < store.ttl("k") <= 120
    assert store.expire("k", None) is True
    assert store.ttl("k") == math.inf
    assert store.expire("missing", 1) is False
    store.set("short", "v", ttl=0.03)
    assert 0 < store.ttl("short") <= 0.03
    time.sleep(0.08)
    assert store.get("short") is None
    store.set("tiny", "v", ttl=1e-9)  # rounds up to 1 ms, never to "no expiry"
    assert store.ttl("tiny") in (None, 0.001)


def test_list_scan_items_count(store):
    for i in range(30):
        store.set(f"p:{i:02d}", f"v{i}")
    store.set("q:0", "x")
    entries = store.list("p:")
    assert [e.key for e in entries] == [f"p:{i:02d}".encode() for i in range(30)]
    assert entries[3] == shmkv.Entry(b"p:03", b"v3")
    assert len(store.list(limit=5)) == 5
    assert len(store.list()) == 31

    keys, cursor, pages = [], b"", 0
    while True:
        page = store.scan("p:", limit=7, cursor=cursor)
        keys += [e.key for e in page.entries]
        pages += 1
        if page.done:
            break
        cursor = page.cursor
    assert pages == 5 and len(keys) == 30 and keys == sorted(keys)
    assert [e.key for e in store.items("p:", page_size=4)] == keys
    assert store.count("p:") == 30 and store.count() == 31 and store.size() == 31


def test_delete_prefix_and_clear(store):
    for i in range(10):
        store.set(f"d:{i}", "v")
    store.set("keep", "v")
    assert store.delete_prefix("d:", limit=4) == (4, False)
    assert store.delete_prefix("d:") == shmkv.DeletePrefixResult(6, True)
    assert store.list() == [(b"keep", b"v")]
    store.clear()
    assert len(store) == 0


def test_ranges_on_list_scan_count_and_delete_range(store):
    for k in ("a:1", "a:2", "a:3", "b:1", "b:2", "c", b"\x00z", b"\xffz"):
        store.set(k, b"v")
    assert store.list_keys(from_="a:2", to="b:2") == [b"a:2", b"a:3", b"b:1"]
    assert store.list("b", from_="a", to="b:2") == [(b"b:1", b"v")]
    assert store.list_keys(to=b"\x01") == [b"\x00z"]
    assert store.list_keys(from_=b"\xff") == [b"\xffz"]
    assert store.list_keys(from_=b"\x00z\x00") == store.list_keys()[1:]  # a NUL inside a bound
    assert store.count(b"\x00", to=b"\x00z\x00") == 1
    assert store.count(from_="a:2", to="c") == 4 and store.count("a", to="a:3") == 2
    assert store.count(from_="b", to="b") == 0
    keys, cursor = [], b""
    while True:
        page = store.scan_keys(limit=2, cursor=cursor, from_="a", to="c")
        entries = store.scan(limit=2, cursor=cursor, from_="a", to="c")
        assert [e.key for e in entries.entries] == page.keys
        assert (entries.cursor, entries.done) == (page.cursor, page.done)
        keys += page.keys
        if page.done:
            break
        cursor = page.cursor
    assert keys == [b"a:1", b"a:2", b"a:3", b"b:1", b"b:2"]
    assert [e.key for e in store.items(page_size=1, from_="b:2")] == [b"b:2", b"c", b"\xffz"]
    with pytest.raises(shmkv.InvalidArgumentError, match="to 'a' is below from 'b'"):
        store.list(from_="b", to="a")
    with pytest.raises(shmkv.InvalidArgumentError):
        store.delete_range()  # every key: clear() does that
    assert len(store) == 8
    assert store.delete_range(from_="a:2", to="b:2", limit=2) == (2, False)
    assert store.delete_range(from_="a:2", to="b:2") == shmkv.DeletePrefixResult(1, True)
    assert store.list_keys("a") == [b"a:1"]


def test_pop_random_many(store):
    tokens = {f"tok:{i}".encode() for i in range(40)}
    for t in tokens:
        store.set(t, b"v" + t)
    store.set("other", "x")
    first = store.pop_random_many("tok:", 25)
    assert len(first) == 25 and all(e.value == b"v" + e.key for e in first)
    rest = store.pop_random_many("tok:", 100)
    assert len(rest) == 15
    assert {e.key for e in first} | {e.key for e in rest} == tokens
    assert len({e.key for e in first + rest}) == 40
    assert store.pop_random_many("tok:", 3) == []
    for bad in (0, 1_000_001):
        with pytest.raises(shmkv.InvalidArgumentError, match=f"n is {bad}"):
            store.pop_random_many("", bad)
    assert store.list() == [(b"other", b"x")]


def test_random_key_and_pop_random(store):
    assert store.random_key() is None
    assert store.pop_random() is None
    tokens = {f"tok:{i}".encode() for i in range(50)}
    for t in tokens:
        store.set(t, b"v" + t)
    store.set("other", "x")
    assert store.random_key("tok:") in tokens
    popped = set()
    while (e := store.pop_random("tok:")) is not None:
        assert e.value == b"v" + e.key
        popped.add(e.key)
    assert popped == tokens
    assert store.list() == [(b"other", b"x")]


def test_info_and_stats(store, name):
    store.set("a", "1")
    store.get("a")
    info = store.info()
    assert info.name == name and info.engine == "shm"
    assert info.shards == 4 and len(info.shard) == 4
    assert info.max_key_bytes == 64 and info.max_value_bytes == 4096
    assert info.live_keys == 1 == sum(s.live_keys for s in info.shard)
    assert any(p.pid == __import__("os").getpid() and p.alive for p in info.processes)
    st = store.stats()
    assert st.sets >= 1 and st.hits >= 1


def test_threads_share_one_store(store):
    def work():
        for _ in range(500):
            store.incr("n")

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.get("n") == b"2000"


def test_module_level_helpers(name):
    assert shmkv.segment_exists(name) is False
    with shmkv.Store.open(name, size_bytes=4 << 20, shards=4):
        assert shmkv.segment_exists(name) is True
    shmkv.destroy(name)
    assert shmkv.segment_exists(name) is False
    assert shmkv.version == shmkv.__version__ and shmkv.version.count(".") == 2
    assert shmkv.library_path


def test_backup_and_restore(store, tmp_path):
    for i in range(100):
        store.set(f"k{i}", bytes([i]) * 10)
    path = tmp_path / "store.backup"
    result = store.backup(path)
    assert result["entries"] == 100 and result["bytes"] > 0
    store.clear()
    store.set("other", "x")
    # A budget below the file's content is refused and changes nothing.
    with pytest.raises(shmkv.LimitExceededError):
        store.restore(path, max_entries=10)
    assert store.get("other") == b"x"
    restored = store.restore(str(path))
    assert restored["entries"] == 100
    assert store.get("k7") == bytes([7]) * 10
    assert store.get("other") is None
    with pytest.raises(shmkv.NotFoundError):
        store.restore(tmp_path / "missing")
    path.write_bytes(b"not a backup")
    with pytest.raises(shmkv.CorruptedError):
        store.restore(path)
    assert store.size() == 100
    with pytest.raises(shmkv.ArgumentTypeError):
        store.backup(42)
    with pytest.raises(shmkv.InvalidArgumentError):
        store.restore(path, max_bytes=-1)
