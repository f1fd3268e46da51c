import itertools
import os
import shutil
import socket
import subprocess
import tempfile
import time

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


def _accepting(path):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        try:
            s.connect(path)
            return True
        except OSError:
            return False


class RedisServer:
    """A redis-server of one test's own on a unix socket: no TCP port, nothing saved."""

    def __init__(self, binary):
        self.directory = tempfile.mkdtemp(prefix="shmkv-redis-")  # a socket path has <= 107 bytes
        self.socket = os.path.join(self.directory, "redis.sock")
        self.url = "unix://" + self.socket
        self.proc = subprocess.Popen(
            [binary, "--port", "0", "--unixsocket", self.socket, "--save", "", "--appendonly", "no",
             "--dir", self.directory], stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 10  # a bound, so that a server that never starts fails
        while not _accepting(self.socket):
            if self.proc.poll() is not None:
                self.stop()
                pytest.fail(f"redis-server exited at start with status {self.proc.returncode}")
            if time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"redis-server did not listen on {self.socket} within 10 s")
            time.sleep(0.01)

    def command(self, *args):
        """Runs one command on a connection of its own; returns the raw reply's first line."""
        request = f"*{len(args)}\r\n" + "".join(f"${len(a)}\r\n{a}\r\n" for a in args)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect(self.socket)
            s.sendall(request.encode())
            return s.makefile("rb").readline().decode().rstrip("\r\n")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.directory, ignore_errors=True)


@pytest.fixture
def redis_server():
    """A RedisServer of this test's own, stopped after it. Skips the test when redis-server is not
    installed, unless SHMKV_REQUIRE_REDIS is set (then it fails)."""
    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("SHMKV_REQUIRE_REDIS"):
            pytest.fail("redis-server is not on PATH and SHMKV_REQUIRE_REDIS is set")
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    server = RedisServer(binary)
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server):
    """The url (unix://.../redis.sock) of the test's own redis-server."""
    return redis_server.url

