"""A tiny HTTP/1.1 server on 127.0.0.1 that answers every GET/POST with "ok" and records what it
received: the examples' independent witness of what the load generators really sent.

    with WitnessServer() as server:       # an ephemeral port on 127.0.0.1
        url = server.url
        ...
    server.total, server.by_kind["order"], server.by_kind["token"]  # Counter of ids per kind

Paths are /<kind>/<id> (kind "order", "token", ...) or /<kind>.

Sessions (examples/locust_claims): POST /login/<account> and POST /logout/<account> with a header
"X-Holder: <pid>" open and close a session of the process <pid> on the account. A login while
another process that is still alive has a session open on the account is an overlap (two live
holders at once); a session whose process has died (gone, or a zombie) just ends.

    server.logins                 # [(monotonic time, account, holder pid)] in arrival order
    server.overlaps               # [(account, holder already in, holder logging in)]
    server.open_sessions(pid)     # accounts that pid has a session open on now
"""

import collections
import http.server
import socketserver
import sys
import threading
import time


def _alive(pid):
    """Whether process pid is running (a zombie has died: its parent has not reaped it yet)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: load generators reuse connections
    server_version = "shmkv-witness/1"

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.server.witness.record(self.path, self.headers.get("X-Holder"))
        body = b"ok\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = _answer
    do_POST = _answer

    def log_message(self, *args):
        pass


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    request_queue_size = 128
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        # Load generators reset their connections when they stop: not an error.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class WitnessServer:
    def __init__(self, host="127.0.0.1", port=0):
        self._lock = threading.Lock()
        self.total = 0
        self.by_kind = collections.defaultdict(collections.Counter)
        self.logins = []
        self.overlaps = []
        self._sessions = {}  # account -> the holder pid with a session open on it
        self._httpd = _Server((host, port), _Handler)
        self._httpd.witness = self
        self.host, self.port = self._httpd.server_address[:2]
        self.url = f"http://{self.host}:{self.port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True,
                                        kwargs={"poll_interval": 0.1})

    def record(self, path, holder=None):
        parts = path.split("?", 1)[0].strip("/").split("/", 1)
        kind = parts[0] or "root"
        ident = parts[1] if len(parts) > 1 else ""
        with self._lock:
            self.total += 1
            self.by_kind[kind][ident] += 1
            if holder is None:
                return
            holder = int(holder)
            if kind == "login":
                current = self._sessions.get(ident)
                if current is not None and current != holder and _alive(current):
                    self.overlaps.append((ident, current, holder))
                self._sessions[ident] = holder
                self.logins.append((time.monotonic(), ident, holder))
            elif kind == "logout" and self._sessions.get(ident) == holder:
                del self._sessions[ident]

    def open_sessions(self, holder):
        with self._lock:
            return sorted(a for a, h in self._sessions.items() if h == holder)

    def snapshot(self):
        with self._lock:
            return self.total, {k: collections.Counter(v) for k, v in self.by_kind.items()}

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False
