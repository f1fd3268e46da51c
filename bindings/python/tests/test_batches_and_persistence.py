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


def test_persistence_options_sync_snapshot_recovery_report(name, tmp_path):
    directory = tmp_path / "persist"
    with pytest.raises(shmkv.InvalidArgumentError, match="persistence_directory is not set"):
        shmkv.open(name, fsync="always")
    with pytest.raises(shmkv.InvalidArgumentError, match="fsync 'sometimes'"):
        shmkv.open(name, persistence_directory=directory, fsync="sometimes")
    with pytest.raises(shmkv.InvalidArgumentError, match="keep_snapshots"):
        shmkv.open(name, persistence_directory=directory, keep_snapshots=0)
    assert not shmkv.segment_exists(name)
    options = dict(size_bytes=8 << 20, shards=4, persistence_directory=directory,
                   fsync=shmkv.FsyncPolicy.ALWAYS, snapshot_interval=3600, fsync_interval=0.05,
                   keep_snapshots=3)
    with shmkv.open(name, **options) as s:
        assert s.recovery_report().performed is True  # created from an empty directory
        s.set_many({f"k{i}": "v" for i in range(20)})
        assert s.snapshot()["entries"] == 20
        s.set("after", "snapshot")  # in the journal only
        s.sync()
    shmkv.destroy(name)
    with shmkv.open(name, **options) as s:
        report = s.recovery_report()
        assert report.performed is True
        assert report.directory == str(directory)
        assert report.snapshot.startswith(str(directory))
        assert report.snapshot_entries == 20 and report.entries == 21
        assert report.records_applied >= 1
        assert report.truncated == [] and report.skipped == []
        assert s.get("after") == b"snapshot"


def test_memory_only_sync_snapshot_recovery_report(store):
    store.sync()  # nothing to do
    with pytest.raises(shmkv.InvalidArgumentError):
        store.snapshot()
    report = store.recovery_report()
    assert report.performed is False and report.directory == "" and report.notes == []


def test_jsonl_export_and_import(store, tmp_path):
    store.set("text", "hello")
    store.set(b"bin\xff", b"\x00\x01")
    path = tmp_path / "dump.jsonl"
    assert store.export_jsonl(path) == {"entries": 2, "bytes": 15}
    store.clear()
    store.set("other", "x")
    assert store.import_jsonl(path) == {"entries": 2, "bytes": 15, "duplicates": 0}
    assert store.get("text") == b"hello" and store.get(b"bin\xff") == b"\x00\x01"
    assert store.get("other") is None  # replaced, as restore does
    dup = tmp_path / "dup.jsonl"
    dup.write_text('{"key":"a","value":"1"}\n{"key":"a","value":"2"}\n')
    assert store.import_jsonl(str(dup))["duplicates"] == 1
    assert store.get("a") == b"2"
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"key":"b","value":"1"}\n{"key":\n')
    with pytest.raises(shmkv.CorruptedError, match="line 2"):
        store.import_jsonl(bad)
    with pytest.raises(shmkv.NotFoundError, match="none.jsonl"):
        store.import_jsonl(tmp_path / "none.jsonl")
    with pytest.raises(shmkv.LimitExceededError):
        store.import_jsonl(path, max_entries=1)
    assert store.get("a") == b"2" and store.get("b") is None


def test_cas_detailed_returns_the_current_value(store):
    store.set("k", "x" * 1000)  # larger than the first buffer
    assert store.cas_detailed("k", "other", "new") == (False, b"x" * 1000)
    assert store.cas_detailed("k", None, "new") == (False, b"x" * 1000)
    assert store.cas_detailed("missing", "a", "new") == shmkv.CasOutcome(False, None)
    assert store.get("missing") is None and store.get("k") == b"x" * 1000
    outcome = store.cas_detailed("k", "x" * 1000, "new", ttl=3600)
    assert outcome.swapped and outcome.current == b"new"
    assert store.ttl("k") > 3500
    # A retry loop that never re-reads loses no update.
    seen = None
    for _ in range(10):
        while True:
            swapped, current = store.cas_detailed("counter", seen, str(int(seen or 0) + 1))
            if swapped:
                seen = current
                break
            seen = current
    assert store.get("counter") == b"10"
    with pytest.raises(shmkv.InvalidArgumentError):
        store.cas_detailed("k", "new", "v", ttl=-1)
