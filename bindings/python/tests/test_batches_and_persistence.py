"""The Python binding's batches, random_keys, check_invariants, TTLs on the atomic helpers,
persistence (open options, sync, snapshot, recovery_report, JSONL) and the detailed CAS."""
import pytest

import shmkv


def flip_byte_of(name, marker):
    """Damages the record holding marker in the segment: its checksum no longer matches."""
    with open(f"/dev/shm/shmkv.{name}", "r+b") as f:
        content = f.read()
        at = content.find(marker)
        assert at >= 0
        f.seek(at)
        f.write(b"X")


def test_get_many_set_many_delete_many(store):
    store.set_many({"a": "1", b"b\0b": b"", "c": "33"}, ttl=60)
    assert 0 < store.ttl(b"b\0b") <= 60
    assert store.get_many(["c", "missing", b"b\0b", "a"]) == [b"33", None, b"", b"1"]
    store.set_many([("p", "x"), ("q", "y")])  # pairs work too
    assert store.ttl("p") == float("inf")
    assert store.get_many([]) == []
    # One bad entry refuses the whole batch, naming it; nothing is written.
    with pytest.raises(shmkv.KeyTooLongError, match=r"keys\[1\] is 65 bytes"):
        store.set_many([("new", "v"), ("k" * 65, "v")])
    with pytest.raises(shmkv.InvalidArgumentError, match=r"keys\[0\] is empty"):
        store.get_many([""])
    with pytest.raises(shmkv.ValueTooLargeError, match=r"values\[0\]"):
        store.set_many({"new": "v" * 4097})
    with pytest.raises(shmkv.InvalidArgumentError):
        store.set_many({"new": "v"}, ttl=-1)
    assert store.get("new") is None
    assert store.delete_many(["a", "missing", "c", "p", "q"]) == 4
    assert store.size() == 1


def test_random_keys(store):
    for i in range(5):
        store.set(f"u:{i}", "v")
    store.set("other", "x")
    drawn = store.random_keys(20, "u:")
    assert len(drawn) == 20 and all(k.startswith(b"u:") for k in drawn)
    assert sorted(store.random_keys(20, "u:", unique=True)) == [f"u:{i}".encode()
                                                               for i in range(5)]
    assert store.random_keys(3, "none:") == []
    with pytest.raises(shmkv.InvalidArgumentError, match="count is 0"):
        store.random_keys(0)
    with pytest.raises(shmkv.InvalidArgumentError, match="1000001"):
        store.random_keys(1_000_001)


def test_check_invariants_lists_violations(store, name):
    for i in range(50):
        store.set(f"k{i}", "v" * i)
    assert store.check_invariants() == []
    store.set("damaged", "py-check-invariants-marker")
    flip_byte_of(name, b"py-check-invariants-marker")
    report = store.check_invariants()
    assert report and any("damaged" in line for line in report), report


def test_atomic_helpers_take_a_ttl_and_incr_keeps_it(store):
    hour = 3600
    store.set("k", "v", ttl=hour)
    assert store.cas("k", "v", "w") is True
    assert store.ttl("k") == float("inf")  # stored without a TTL: the old one is dropped
    assert store.cas("k", "w", "x", ttl=hour) is True
    assert hour - 60 < store.ttl("k") <= hour
    assert store.cas("k", "nope", "y", ttl=5) is False  # a lost CAS changes nothing
    assert store.ttl("k") > hour - 60
    assert store.swap("k", "s", ttl=2 * hour) == b"x"
    assert store.ttl("k") > hour
    assert store.swap("k", "t") == b"s"
    assert store.ttl("k") == float("inf")
    store.set("n", "1", ttl=hour)
    assert store.incr("n") == 2
    assert store.ttl("n") > hour - 60
    assert store.get_or_set("g", "first", ttl=hour) == (b"first", False)
    assert store.get_or_set("g", "second") == (b"first", True)
    assert store.ttl("g") > hour - 60  # loaded: the key keeps its TTL
    assert store.set_if_absent("a", "v", ttl=hour) is True
    assert store.set_if_absent("a", "w") is False
    assert store.ttl("a") > hour - 60
    for call in (lambda: store.cas("k", "t", "z", ttl=-1), lambda: store.swap("k", "z", ttl=-1),
                 lambda: store.get_or_set("h", "z", ttl=float("inf"))):
        with pytest.raises(shmkv.InvalidArgumentError):
            call()
    assert store.get("k") == b"t" and store.get("h") is None
