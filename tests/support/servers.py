"""Real HTTP servers on 127.0.0.1 for tests: a webhook receiver and a file server."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Server:
    handler: type

    def __init__(self):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._make_handler())
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def _make_handler(self):
        owner = self

        class Handler(self.handler):
            server_owner = owner

            def log_message(self, *args):
                pass

        return Handler

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_port}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


class _ReceiverHandler(BaseHTTPRequestHandler):
    def do_POST(self):
        owner = self.server_owner
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with owner.lock:
            owner.calls.append({"path": self.path, "body": json.loads(body or b"null"), "at": time.time(),
                                "raw": body, "headers": {k.lower(): v for k, v in self.headers.items()}})
            code = owner.codes.pop(0) if owner.codes else 200
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()


class WebhookReceiver(_Server):
    """Records every POST (path, parsed body, raw bytes, lower-cased headers, time); answers with the
    queued ``codes`` first, then 200."""

    handler = _ReceiverHandler

    def __init__(self, codes=()):
        self.calls: list[dict] = []
        self.codes = list(codes)
        self.lock = threading.Lock()
        super().__init__()

    def posts(self, path: str) -> list[dict]:
        with self.lock:
            return [call for call in self.calls if call["path"] == path]


class _FileHandler(BaseHTTPRequestHandler):
    def do_GET(self):
        owner = self.server_owner
        entry = owner.files.get(self.path.split("?")[0])
        if entry is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        data, content_type = entry
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class FileServer(_Server):
    """Serves in-memory files: ``add("/a.png", data)`` then GET ``url + "/a.png"``."""

    handler = _FileHandler

    def __init__(self):
        self.files: dict[str, tuple[bytes, str]] = {}
        super().__init__()

    def add(self, path: str, data: bytes, content_type: str = "application/octet-stream") -> str:
        self.files[path] = (data, content_type)
        return self.url + path


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.1, message: str = "condition"):
    """Poll ``predicate`` until it returns a truthy value (returned) or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {message}")
        time.sleep(interval)
