"""Locust headless on this host, as the Locust examples run it: one master on 127.0.0.1 (a free
port) and `workers` worker processes, each in a session of its own, all writing to one log
file in `workdir`. Leaving the `with` block kills whatever still runs (the whole session).

    with LocustCluster(locust, locustfile, workers=3, users=30, duration=10, host=server.url,
                       env=env, workdir=workdir, extra=["--csv", prefix]) as cluster:
        cluster.workers            # the worker processes (subprocess.Popen)
        cluster.wait(fail)         # every process has exited (fail() after duration + 120 s)
        cluster.master.returncode  # --exit-code-on-error: 1 when a request failed
        cluster.log_tail()         # the log's last lines, for a failure message

In the locustfiles: patch_locust_version() makes Debian's python3-locust 2.12.1 master accept
its own workers, and kv = store_opener(name, url) gives each process its own handle, kv().
"""

import os
import shutil
import signal
import socket
import subprocess
import time


def locust_and_shmkv(locust, fail):
    """The path of the locust executable and the shmkv module, or fail() saying what to install
    or set."""
    path = shutil.which(locust)
    if path is None:
        fail(f"'{locust}' not found: install the Debian package python3-locust "
             "(apt-get install python3-locust)")
    try:
        import shmkv
    except ImportError as e:
        fail(f"cannot import shmkv ({e}); set PYTHONPATH=<repo>/bindings/python and "
             "SHMKV_LIBRARY=<build>/bindings/libshmkv.so")
    return path, shmkv


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tail(log, n=40):
    """The last n lines of an open log file."""
    log.flush()
    log.seek(0)
    return "".join(log.readlines()[-n:])


def patch_locust_version():
    """Debian bookworm's python3-locust 2.12.1-1 ships an empty locust.__version__, and a master
    rejects workers whose client_ready message carries an empty version ("An old (pre 2.0)
    worker tried to connect"). -1 is Locust's own "skip the version check" value (locust PR
    #1830)."""
    import locust.runners
    if not locust.runners.__version__:
        locust.runners.__version__ = -1


def store_opener(name, url=None):
    """A function returning this process's handle on the store `name` (on the Redis server at
    url, if given), opened at the first call and again after a fork."""
    import shmkv
    opened = {}

    def kv():
        pid = os.getpid()
        if pid not in opened:
            opened.clear()
            opened[pid] = shmkv.open(name, open_mode="attach_only", text=True, url=url or None)
        return opened[pid]
    return kv


class LocustCluster:
    def __init__(self, locust, locustfile, workers, users, duration, host, env, workdir,
                 extra=()):
        self.duration = duration
        self._log = open(os.path.join(workdir, "locust.log"), "w+")
        port = free_port()
        self._procs = []
        self.master = self._start(
            [locust, "-f", locustfile, "--headless", "--master",
             "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port),
             "--expect-workers", str(workers), "--expect-workers-max-wait", "60",
             "-u", str(users), "-r", str(users), "-t", f"{duration}s",
             "--stop-timeout", "30", "--host", host, "--only-summary", "--loglevel", "WARNING",
             *extra], env)
        self.workers = [self._start([locust, "-f", locustfile, "--worker", "--master-host",
                                     "127.0.0.1", "--master-port", str(port),
                                     "--loglevel", "WARNING"], env)
                        for _ in range(workers)]
        self.started = time.monotonic()

    def _start(self, cmd, env):
        p = subprocess.Popen(cmd, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                             start_new_session=True)
        self._procs.append(p)
        return p

    def wait(self, fail):
        deadline = self.started + self.duration + 120
        for p in self._procs:
            try:
                p.wait(timeout=max(1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                fail(f"locust did not finish in {self.duration + 120} s; log:\n" +
                     self.log_tail())
        return time.monotonic() - self.started

    def returncodes(self):
        return [p.returncode for p in self._procs]

    def log_tail(self, n=40):
        return tail(self._log, n)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for p in self._procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        self._log.close()
        return False
