import itertools
import os

import pytest

import shmkv

_counter = itertools.count()


def unique_name(tag="py"):
    return f"{tag}-{os.getpid()}-{next(_counter)}"


@pytest.fixture
def name():
    """A unique segment name, destroyed after the test."""
    n = unique_name()
    yield n
    try:
        shmkv.destroy(n)
    except shmkv.NotFoundError:
        pass


@pytest.fixture
def store(name):
    """A small store (8 MiB, 4 shards, keys up to 64 bytes, values up to 4096)."""
    with shmkv.open(name, size_bytes=8 << 20, shards=4, max_key_bytes=64,
                    max_value_bytes=4096) as s:
        yield s
