"""tour.py: the Python column of the operation table (docs/bindings.md "Every operation, every
surface"): calls every operation of the shmkv module once, checks its result, and prints
"called NAME" after each check passed (tests/surfaces/check_table.py compares the names with the
table). A failed check raises: the tour exits non-zero.

    python3 tour.py STORE_NAME SCRATCH_DIR     (SHMKV_LIBRARY and PYTHONPATH as for the tests)
"""
import os
import sys

import shmkv


def called(name):
    print("called " + name, flush=True)


def main(name, scratch):
    if shmkv.segment_exists(name):
        shmkv.destroy(name)
    kv = shmkv.open(name, size_bytes=16 << 20)
    called("open")
    assert shmkv.segment_exists(name)
    called("segment_exists")

    kv.set("k", "v", ttl=3600)
    assert kv.get("k") == b"v"
    called("set")
    called("get")
    assert kv.exists("k") and not kv.exists("nope")
    called("exists")
    assert kv.ttl("k") > 3500
    called("ttl")
    assert kv.expire("k", 0) and kv.ttl("k") == float("inf")
    called("expire")
    assert kv.delete("k") and not kv.delete("k")
    called("delete")
    assert kv.incr("n", 5) == 5 and kv.decr("n", 2) == 3
    called("incr")
    called("decr")
    first = kv.get_or_set("g", "first")
    assert not first.loaded and kv.get_or_set("g", "second").value == b"first"
    called("get_or_set")
    assert kv.swap("g", "third") == b"first"
    called("swap")
    assert kv.cas("g", "third", "fourth") and not kv.cas("g", "third", "x")
    called("cas")
    assert not kv.cad("g", "third") and kv.cad("g", "fourth")
    called("cad")
    kv.set("d", "now")
    outcome = kv.cas_detailed("d", "then", "x")
    assert not outcome.swapped and outcome.current == b"now" and kv.delete("d")
    called("cas_detailed")
    assert kv.set_if_absent("a", "1") and not kv.set_if_absent("a", "2")
    called("set_if_absent")

    for k, v in (("job:1", "a"), ("job:2", "b"), ("job:3", "c"), ("user:1", "u")):
        kv.set(k, v)
    assert kv.count("job:") == 3 and kv.count(from_="job:2", to="job:3") == 1
    called("count")
    listed = kv.list("job:", 2)
    assert [(e.key, e.value) for e in listed] == [(b"job:1", b"a"), (b"job:2", b"b")]
    called("list")
    assert kv.list_keys("job:") == [b"job:1", b"job:2", b"job:3"]
    called("list_keys")
    page = kv.scan("job:", 2)
    assert len(page.entries) == 2 and not page.done
    assert kv.scan("job:", 2, page.cursor).entries[0].key == b"job:3"
    called("scan")
    assert kv.scan_keys("user:", 5).keys == [b"user:1"]
    called("scan_keys")
    assert [e.key for e in kv.items("job:", page_size=2)] == [b"job:1", b"job:2", b"job:3"]
    called("items")
    assert kv.random_key("user:") == b"user:1"
    called("random_key")
    popped = kv.pop_random("user:")
    assert popped.key == b"user:1" and not kv.exists("user:1")
    called("pop_random")
    assert len(kv.pop_random_many("job:", 2)) == 2 and kv.count("job:") == 1
    called("pop_random_many")
    # Coordination (issue 16): one process takes and gives back each kind of grant.
    kv.set_many({"c:1": "one", "c:2": "two"})
    c = kv.claim("c:1", 60)
    assert c.value == b"one" and c.token > 0
    called("claim")
    assert kv.renew("c:1", c.token, 60)
    called("renew")
    assert kv.release("c:1", c.token) and not kv.release("c:1", c.token)
    called("release")
    d = kv.claim_random("c:", 60)
    assert d.key in (b"c:1", b"c:2")
    called("claim_random")
    assert kv.complete(d.key, d.token) and not kv.exists(d.key)
    called("complete")
    token = kv.lock("leader", 60)
    assert token and kv.lock("leader", 60) is None
    called("lock")
    assert kv.unlock("leader", token)
    called("unlock")
    permit = kv.acquire("db", 1)
    assert permit and kv.acquire("db", 1) is None
    called("acquire")
    assert kv.release_permit("db", permit)
    called("release_permit")
    kv.set("ready", "1")
    assert kv.wait_for("ready", 0) and not kv.wait_for("absent", 0.001)
    called("wait_for")
    kv.set("q:1", "x")
    assert kv.pop_random_wait("q:", 0.001) == (b"q:1", b"x")
    called("pop_random_wait")
    assert kv.barrier("start", 1, 0) == 0
    called("barrier")
    kv.delete_prefix("c:")
    kv.delete("ready")
    kv.set_many({"m:1": "one", "m:2": "two"}, ttl=60)
    called("set_many")
    assert kv.get_many(["m:1", "nope", "m:2"]) == [b"one", None, b"two"]
    called("get_many")
    assert sorted(kv.random_keys(5, "m:", unique=True)) == [b"m:1", b"m:2"]
    called("random_keys")
    assert kv.delete_many(["m:1", "m:2", "nope"]) == 2
    called("delete_many")
    kv.set("t:1", "x")
    kv.set("u:1", "z")
    assert kv.delete_range("t:").deleted == 1
    called("delete_range")
    assert kv.delete_prefix("u:").deleted == 1
    called("delete_prefix")
    assert kv.size() == 3 and len(kv) == 3
    called("size")
    assert kv.info().name == name
    called("info")
    assert kv.stats().sets > 0
    called("stats")

    try:
        kv.set("", "v")
        raise AssertionError("an empty key was accepted")
    except shmkv.InvalidArgumentError as e:
        assert e.name == "invalid_argument" and e.code < 0
    called("Error.code")
    called("Error.name")
    assert shmkv.version.count(".") == 2
    called("version")
    assert kv.check_invariants() == []
    called("check_invariants")
    jsonl = os.path.join(scratch, "tour.jsonl")
    assert kv.export_jsonl(jsonl)["entries"] == 3
    called("export_jsonl")
    assert kv.import_jsonl(jsonl)["entries"] == 3
    called("import_jsonl")
    backup = os.path.join(scratch, "tour.backup")
    kv.backup(backup)
    called("backup")
    kv.clear()
    assert kv.size() == 0
    called("clear")
    kv.restore(backup)
    assert kv.get("a") == b"1"
    called("restore")
    kv.close()
    assert kv.closed
    called("close")
    shmkv.destroy(name)
    assert not shmkv.segment_exists(name)
    called("destroy")

    # A persistent store: sync, snapshot, and the recovery that rebuilds it.
    directory = os.path.join(scratch, "persist")
    with shmkv.open(name, size_bytes=16 << 20, persistence_directory=directory) as kv:
        kv.set("durable", "yes")
        kv.sync()
        called("sync")
        assert kv.snapshot()["entries"] == 1
        called("snapshot")
    shmkv.destroy(name)
    with shmkv.open(name, size_bytes=16 << 20, persistence_directory=directory) as kv:
        report = kv.recovery_report()
        assert report.performed and kv.get("durable") == b"yes"
        called("recovery_report")
    shmkv.destroy(name)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
