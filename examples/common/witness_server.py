"""A tiny HTTP/1.1 server on 127.0.0.1 that answers every GET/POST with "ok" and records what it
received: the examples' independent witness of what the load generators really sent.

    with WitnessServer() as server:       # an ephemeral port on 127.0.0.1
        url = server.url
        ...
    server.total, server.by_kind["order"], server.by_kind["token"]  # Counter of ids per kind

Paths are /<kind>/<id> (kind "order", "token", ...) or /<kind>.
"""

import collections
import http.server
import socketserver
import sys
import threading


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: load generators reuse connections
    server_version = "shmkv-witness/1"

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.server.witness.record(self.path)
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
        self._httpd = _Server((host, port), _Handler)
        self._httpd.witness = self
        self.host, self.port = self._httpd.server_address[:2]
        self.url = f"http://{self.host}:{self.port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True,
                                        kwargs={"poll_interval": 0.1})

    def record(self, path):
        parts = path.split("?", 1)[0].strip("/").split("/", 1)
        kind = parts[0] or "root"
        ident = parts[1] if len(parts) > 1 else ""
        with self._lock:
            self.total += 1
            self.by_kind[kind][ident] += 1

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
