"""Small HTTP servers on 127.0.0.1 for plugin tests: input files and a fake GPU node.

Both run in a daemon thread of the test process, on a free port, and stop with
``close()`` (or at the end of a ``with`` block).
"""

from __future__ import annotations

import json
import mimetypes
import secrets
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Union
from urllib.parse import parse_qs, urlsplit

from render_core.sdk.node import Node


class _Server:
    """A threading HTTP server whose handler calls ``self._answer(handler)``."""

    def __init__(self):
        owner = self

        class Handler(BaseHTTPRequestHandler):  # HTTP/1.0: one connection per request, so close() is final
            def _dispatch(self):
                owner._answer(self)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _dispatch

            def log_message(self, *args):
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), name=type(self).__name__,
                                        daemon=True)  # polls for shutdown every 0.05 s
        self._thread.start()
        self._closed = False

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:41234`` (no trailing slash)."""
        return f"http://127.0.0.1:{self._httpd.server_port}"

    def close(self) -> None:
        """Stop serving; later requests are refused (connection refused)."""
        if not self._closed:
            self._closed = True
            self._httpd.shutdown()
            self._httpd.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        raise NotImplementedError


def _send(handler: BaseHTTPRequestHandler, status: int, body: bytes, headers: dict) -> None:
    handler.send_response(status)
    for name, value in headers.items():
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    if handler.command != "HEAD":
        handler.wfile.write(body)


class FileServer(_Server):
    """Serves input files to ``ctx.download`` like any web server would.

    ``add("/clip.wav", data)`` or ``add_file(path)`` returns the file's URL; any other
    path answers 404. ``requests`` lists the paths asked for, in order.
    """

    def __init__(self):
        self._files: dict[str, tuple[bytes, str, int]] = {}
        self.requests: list[str] = []
        self._lock = threading.Lock()
        super().__init__()

    def add(self, path: str, data: bytes, content_type: str | None = None, status: int = 200) -> str:
        """Serve ``data`` at ``path`` (with ``status``, e.g. 500 to test a failing host); returns its URL."""
        path = path if path.startswith("/") else f"/{path}"
        content_type = content_type or mimetypes.guess_type(path)[0] or "application/octet-stream"
        with self._lock:
            self._files[path] = (data, content_type, status)
        return self.url + path

    def add_file(self, local_path: Path | str, path: str | None = None, content_type: str | None = None) -> str:
        """Serve the file at ``local_path`` (at ``/<its name>`` unless ``path`` is given); returns its URL."""
        local_path = Path(local_path)
        return self.add(path or f"/{local_path.name}", local_path.read_bytes(), content_type)

    def _answer(self, handler):
        path = urlsplit(handler.path).path
        with self._lock:
            self.requests.append(path)
            entry = self._files.get(path)
        if entry is None:
            _send(handler, 404, b"not found", {"Content-Type": "text/plain"})
            return
        data, content_type, status = entry
        _send(handler, status, data, {"Content-Type": content_type})


@dataclass(frozen=True)
class NodeRequest:
    """One request the fake node received."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body or b"null")


@dataclass(frozen=True)
class Reply:
    """What the fake node answers: a status, and a JSON value or raw bytes."""

    status: int = 200
    json: Any = None
    body: bytes = b""
    headers: dict = field(default_factory=dict)

    def encode(self) -> tuple[bytes, dict]:
        if self.json is not None:
            return json.dumps(self.json).encode(), {"Content-Type": "application/json", **self.headers}
        return self.body, {"Content-Type": "application/octet-stream", **self.headers}


#: A route's answer: a Reply, a JSON-able dict or list, bytes, a bare status code,
#: or a callable taking the NodeRequest and returning one of those.
Answer = Union[Reply, dict, list, bytes, int, Callable[[NodeRequest], Any]]


def _as_reply(answer: Any) -> Reply:
    if isinstance(answer, Reply):
        return answer
    if isinstance(answer, bool):
        raise TypeError("a route answer cannot be a bool")
    if isinstance(answer, int):
        return Reply(status=answer, body=b"")
    if isinstance(answer, (bytes, bytearray)):
        return Reply(body=bytes(answer))
    if isinstance(answer, (dict, list)):
        return Reply(json=answer)
    raise TypeError(f"a route answer must be a Reply, dict, list, bytes or int, not {type(answer).__name__}")


class FakeNode(_Server):
    """A stand-in for a leased GPU node: an HTTP server you program route by route.

    ``node`` is the :class:`~render_core.plugin.Node` the task receives as ``ctx.node``:
    its ``base_url`` is this server and its ``headers`` carry a bearer key, which every
    request must present (else 401, recorded in ``refused``): a task that calls its
    node without ``ctx.node_session()`` shows up there.

    ``route("POST", "/mytask/run", {"text": "done"})`` answers that request; a path ending
    in ``*`` matches every path with that prefix; unrouted paths answer 404.
    ``requests`` lists what was received (authorised ones), ``healthy`` turns False when
    a task run by the harness raised NodeError, or a NodeAppError after which ``GET /`` did
    not answer 200 (the health check; the worker would mark the node
    unhealthy and retry on a fresh one), and ``close()`` makes the node vanish mid-job.
    """

    def __init__(self, instance_id: str = "fake-node-1", urls: dict | None = None):
        self.key = secrets.token_hex(8)
        self.instance_id = instance_id
        self.requests: list[NodeRequest] = []
        self.refused: list[NodeRequest] = []
        self.healthy = True
        self._routes: dict[tuple[str, str], Answer] = {}
        self._lock = threading.Lock()
        self._urls = dict(urls or {})
        super().__init__()

    @property
    def node(self) -> Node:
        """What the task sees as ``ctx.node``."""
        urls = {service: url if "://" in url else self.url + "/" + url.lstrip("/")
                for service, url in self._urls.items()}
        return Node(base_url=self.url, headers={"Authorization": f"Bearer {self.key}"}, urls=urls,
                    instance_id=self.instance_id)

    def route(self, method: str, path: str, answer: Answer) -> "FakeNode":
        """Answer ``method path`` with ``answer`` (see :data:`Answer`); returns self for chaining."""
        with self._lock:
            self._routes[(method.upper(), path)] = answer
        return self

    def reset(self) -> None:
        """Forget routes, recorded requests and health."""
        with self._lock:
            self._routes.clear()
            self.requests.clear()
            self.refused.clear()
            self.healthy = True

    def _find(self, method: str, path: str) -> Answer | None:
        with self._lock:
            if (method, path) in self._routes:
                return self._routes[(method, path)]
            for (route_method, route_path), answer in self._routes.items():
                if route_method == method and route_path.endswith("*") and path.startswith(route_path[:-1]):
                    return answer
        return None

    def _answer(self, handler):
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        request = NodeRequest(method=handler.command, path=parts.path, query=parse_qs(parts.query),
                              headers=dict(handler.headers.items()), body=handler.rfile.read(length))
        if handler.headers.get("Authorization") != f"Bearer {self.key}":
            with self._lock:
                self.refused.append(request)
            _send(handler, 401, b'{"detail": "missing or wrong node key"}', {"Content-Type": "application/json"})
            return
        with self._lock:
            self.requests.append(request)
        answer = self._find(request.method, request.path)
        if answer is None:
            _send(handler, 404, b'{"detail": "no such route on the fake node"}', {"Content-Type": "application/json"})
            return
        try:
            reply = _as_reply(answer(request) if callable(answer) else answer)
        except Exception as exc:  # a handler bug shows up as the node's 500, like a real server's
            reply = Reply(status=500, json={"detail": f"{type(exc).__name__}: {exc}"})
        body, headers = reply.encode()
        _send(handler, reply.status, body, headers)
