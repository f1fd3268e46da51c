"""A store on a Redis server, reached by url: the same methods and errors as shared memory, plus
UnavailableError. Each test runs its own redis-server (conftest.py's redis_url)."""
import os
import tempfile

import pytest

import shmkv

from conftest import unique_name


def test_open_by_url_and_every_kind_of_operation(redis_url):
    name = unique_name("pyredis")
    assert shmkv.segment_exists(name, url=redis_url) is False
    with shmkv.open(name, url=redis_url) as kv:
        assert kv.info().engine == "redis" and kv.info().name == name
        assert shmkv.segment_exists(name, url=redis_url) is True
        assert shmkv.segment_exists(name) is False  # no segment in /dev/shm
        kv.set("user:1", "ann")
        kv.set("user:2", b"\x00bob\xff")
        assert kv.get("user:1") == b"ann" and kv.get("user:2") == b"\x00bob\xff"
        assert kv.incr("hits", 5) == 5 and kv.decr("hits", 2) == 3
        with pytest.raises(shmkv.NotANumberError):
            kv.incr("user:1")
        assert kv.list("user:") == [(b"user:1", b"ann"), (b"user:2", b"\x00bob\xff")]
        assert kv.count() == 3 and kv.count("user:") == 2
        popped = {kv.pop_random("user:"), kv.pop_random("user:")}
        assert popped == {(b"user:1", b"ann"), (b"user:2", b"\x00bob\xff")}
        assert kv.pop_random("user:") is None
        # A second handle, as another host would open it, sees the same store.
        with shmkv.open(name, url=redis_url, open_mode="attach_only") as other:
            assert other.get("hits") == b"3"
    shmkv.destroy(name, url=redis_url)
    assert shmkv.segment_exists(name, url=redis_url) is False
    with pytest.raises(shmkv.NotFoundError, match=name):
        shmkv.destroy(name, url=redis_url)


def test_the_segments_options_are_refused_on_a_server(redis_url):
    with pytest.raises(shmkv.InvalidArgumentError, match="shards"):
        shmkv.open(unique_name("pyredis"), url=redis_url, shards=4)
    with pytest.raises(shmkv.InvalidArgumentError, match="connect_timeout"):
        shmkv.open(unique_name("pyredis"), url=redis_url, connect_timeout=0)
    with pytest.raises(shmkv.ArgumentTypeError):
        shmkv.open(unique_name("pyredis"), url=5)
    with pytest.raises(shmkv.InvalidArgumentError, match="url"):
        shmkv.open(unique_name("pyredis"), url="http://example.com")


def test_timeouts_are_accepted_on_a_server(redis_url):
    with shmkv.open(unique_name("pyredis"), url=redis_url, connect_timeout=0.5,
                    command_timeout=0) as kv:
        kv.set("k", "v")
        assert kv.get("k") == b"v"


def test_a_url_where_no_server_listens_is_unavailable():
    with tempfile.TemporaryDirectory(prefix="shmkv-py-") as d:
        sock = os.path.join(d, "nobody.sock")
        url = "unix://" + sock
        with pytest.raises(shmkv.UnavailableError, match=sock) as err:
            shmkv.open("lt", url=url)
        assert err.value.name == "unavailable"
        with pytest.raises(shmkv.UnavailableError):
            shmkv.segment_exists("lt", url=url)
        with pytest.raises(shmkv.UnavailableError):
            shmkv.destroy("lt", url=url)


def test_the_binding_does_not_read_SHMKV_URL(redis_url, name, monkeypatch):
    monkeypatch.setenv("SHMKV_URL", redis_url)
    with shmkv.open(name, size_bytes=4 << 20, shards=4) as kv:
        assert kv.info().engine == "shm"
    with shmkv.open(name, url=os.environ.get("SHMKV_URL")) as kv:  # the documented idiom
        assert kv.info().engine == "redis"
    shmkv.destroy(name, url=redis_url)


def test_a_server_that_goes_away_is_unavailable(redis_server):
    with shmkv.open(unique_name("pyredis"), url=redis_server.url) as kv:
        kv.set("k", "v")
        redis_server.stop()
        with pytest.raises(shmkv.UnavailableError, match=redis_server.socket):
            kv.get("k")


def test_a_write_whose_reply_is_lost_is_outcome_unknown(redis_server):
    # CLIENT PAUSE WRITE holds every write the server receives (for 60 s, far beyond the 0.2 s
    # command timeout); a read still runs. The set was sent, so whether it happens is unknown.
    with shmkv.open(unique_name("pyredis"), url=redis_server.url, command_timeout=0.2) as kv:
        kv.set("k", "before")
        assert redis_server.command("CLIENT", "PAUSE", "60000", "WRITE") == "+OK"
        try:
            with pytest.raises(shmkv.OutcomeUnknownError) as err:
                kv.set("k", "after")
            assert err.value.name == "outcome_unknown" and err.value.code == -18
            assert kv.get("k") == b"before"  # the held write has not run
        finally:
            redis_server.command("CLIENT", "UNPAUSE")
