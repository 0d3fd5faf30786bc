"""A fake Comput3.AI: the control API (docs/protocols.md, "Comput3 control API") and its nodes' health, on 127.0.0.1.

Routes (``X-C3-API-KEY`` must match, else 401):

- ``POST /api/v0/launch``, ``POST /api/v0/workloads``, ``POST /api/v0/stop``,
  ``GET /api/v0/balance``, ``GET /api/v0/types``;
- a node: ``GET /n/<node>/...`` (and ``/ui/<node>/...``): 200 once the instance has run
  ``launch_delay`` seconds, 503 before, 502 when stopped, expired or unknown, and a
  dropped connection when it was killed. ``<node>`` may carry ``.comput3.ai`` or not.

Knobs: ``launch_delay``, ``fail_next_launches``, ``kill``, ``advance`` (move the clock),
``time_scale`` (the fake's clock runs that many times faster than real time: launch delay,
expiry and billing are measured on it; pass ``fake.now`` as the pool's clock), ``node_suffix``
(answer node names with ``.comput3.ai``), ``empty_stop_body``. Counters (every request, refused
ones included): ``launch_calls``, ``stop_calls``; ``billed_seconds()``; ``running()``; ``calls`` (every request seen).

Usage::

    with FakeComput3() as c3:
        provider = Comput3Provider(c3.api_url, c3.api_key, node_url_template=c3.node_url_template, ...)
"""

from __future__ import annotations

import json
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

API_PREFIX = "/api/v0"
DEFAULT_TYPES = ("media:fast", "ollama_webui:fast")
SUFFIX = ".comput3.ai"

HTML_ERROR_PAGE = """<!DOCTYPE html>
<html><head><title>502 Bad Gateway</title><style>body { font-family: sans-serif; }</style>
<script>window.cf = {ray: "8a1b2c3d"};</script></head>
<body><h1>Bad gateway</h1><p>The web server reported a bad gateway error.</p>
<p>Ray ID: 8a1b2c3d &middot; Performance &amp; security by a CDN</p></body></html>
"""


@dataclass
class FakeInstance:
    """One launched workload; times are on the fake's clock (unix seconds, scaled)."""

    workload: str
    node: str
    type: str
    created: float
    expires: float
    workload_key: str
    stopped: float | None = None
    killed: float | None = None
    killed_but_listed: bool = False


class FakeComput3:
    """Thread-safe fake of the Comput3 control API plus its nodes; a context manager."""

    def __init__(self, api_key: str = "fake-c3-key", *, launch_delay: float = 0.0, time_scale: float = 1.0,
                 node_suffix: bool = False, types: tuple[str, ...] = DEFAULT_TYPES, balance: float = 100.0,
                 empty_stop_body: bool = False):
        self.api_key = api_key
        self.launch_delay = launch_delay
        self.time_scale = time_scale
        self.node_suffix = node_suffix
        self.types = tuple(types)
        self.balance = balance
        self.empty_stop_body = empty_stop_body
        self.calls: list[dict] = []
        self._instances: dict[str, FakeInstance] = {}
        self._failures: list[str] = []
        self._offset = 0.0
        self._epoch = time.time()
        self._lock = threading.RLock()
        self._httpd = _Server(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-comput3", daemon=True)

    # ------------------------------------------------------------------ lifecycle and addresses

    def start(self) -> "FakeComput3":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> "FakeComput3":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_port}"

    @property
    def api_url(self) -> str:
        return self.url + API_PREFIX

    @property
    def node_url_template(self) -> str:
        return self.url + "/n/{node}"

    @property
    def ui_url_template(self) -> str:
        return self.url + "/ui/{node}"

    # ------------------------------------------------------------------ clock and knobs

    def now(self) -> float:
        """The fake's unix time (s): real time since start times ``time_scale``, plus ``advance``s."""
        with self._lock:
            return self._epoch + (time.time() - self._epoch) * self.time_scale + self._offset

    def advance(self, seconds: float) -> None:
        """Move the fake's clock forward (expiry, launch delay and billing follow)."""
        with self._lock:
            self._offset += seconds

    def fail_next_launches(self, count: int, kind: str = "500") -> None:
        """The next ``count`` launches fail: ``500`` (JSON error), ``html`` (HTML page with 200),
        ``html502`` (HTML page with 502) or ``incomplete`` (200 JSON without ``node``)."""
        if kind not in ("500", "html", "html502", "incomplete"):
            raise ValueError(f"unknown failure kind {kind!r}")
        with self._lock:
            self._failures.extend([kind] * count)

    def kill(self, workload_id: str, *, still_listed: bool = False) -> None:
        """The instance dies: its node drops connections; the API lists it as failed, or (with
        ``still_listed``) keeps listing it as running and billing it."""
        with self._lock:
            instance = self._instances[workload_id]
            instance.killed = self.now()
            instance.killed_but_listed = still_listed

    # ------------------------------------------------------------------ observations

    def status(self, instance: FakeInstance) -> str:
        """``running``, ``stopped``, ``expired`` or ``failed`` at the fake's current time."""
        with self._lock:
            if instance.stopped is not None:
                return "stopped"
            if self.now() >= instance.expires:
                return "expired"
            if instance.killed is not None and not instance.killed_but_listed:
                return "failed"
            return "running"

    def running(self) -> list[dict]:
        """The instances the API lists as running (and bills), as API items."""
        with self._lock:
            return [self._item(i) for i in self._instances.values() if self.status(i) == "running"]

    @property
    def launch_calls(self) -> int:
        """Launch requests received (refused ones included)."""
        return self._count("/launch")

    @property
    def stop_calls(self) -> int:
        """Stop requests received (refused ones included)."""
        return self._count("/stop")

    def _count(self, route: str) -> int:
        with self._lock:
            return sum(1 for call in self.calls if call["method"] == "POST" and call["path"] == API_PREFIX + route)

    def instance(self, workload_id: str) -> FakeInstance | None:
        with self._lock:
            return self._instances.get(workload_id)

    def billed_seconds(self) -> float:
        """Sum over instances of (end - created) on the fake's clock; the end is the stop, the
        expiry, the death (when no longer listed) or now."""
        with self._lock:
            now = self.now()
            total = 0.0
            for instance in self._instances.values():
                ends = [now, instance.expires]
                if instance.stopped is not None:
                    ends.append(instance.stopped)
                if instance.killed is not None and not instance.killed_but_listed:
                    ends.append(instance.killed)
                total += max(0.0, min(ends) - instance.created)
            return total

    # ------------------------------------------------------------------ API behaviour

    def _launch(self, body: dict) -> tuple[int, object]:
        with self._lock:
            failure = self._failures.pop(0) if self._failures else None
            if failure == "500":
                return 500, {"error": "internal server error"}
            if failure == "html":
                return 200, HTML_ERROR_PAGE
            if failure == "html502":
                return 502, HTML_ERROR_PAGE
            workload_type, expires = body.get("type"), body.get("expires")
            if workload_type not in self.types:
                return 400, {"error": f"unknown workload type {workload_type!r}"}
            now = self.now()
            if not isinstance(expires, int) or expires <= now:
                return 400, {"error": "expires must be a unix time (integer seconds) in the future"}
            workload_id = str(uuid.uuid4())
            name = f"node-{workload_id[:8]}"
            instance = FakeInstance(workload=workload_id, node=name, type=workload_type, created=now,
                                    expires=float(expires), workload_key=uuid.uuid4().hex)
            self._instances[workload_id] = instance
            if failure == "incomplete":
                return 200, {"workload": workload_id}  # launched, but the answer lacks the node
            return 200, {"node": self._node_name(instance), "workload": workload_id,
                         "workload_key": instance.workload_key}

    def _workloads(self, body: dict) -> tuple[int, object]:
        with self._lock:
            only_running = bool(body.get("running"))
            return 200, [self._item(i) for i in self._instances.values()
                         if not only_running or self.status(i) == "running"]

    def _stop(self, body: dict) -> tuple[int, object]:
        with self._lock:
            instance = self._instances.get(str(body.get("workload")))
            if instance is None:
                return 404, {"error": "workload not found"}
            if instance.stopped is None:
                instance.stopped = min(self.now(), instance.expires)
            return 200, ("" if self.empty_stop_body else {"stopped": instance.stopped, "refund_amount": 0.0})

    def _node_health(self, node: str) -> int | None:
        """Status of a node's ``GET /``; None means: drop the connection."""
        name = node[:-len(SUFFIX)] if node.endswith(SUFFIX) else node
        with self._lock:
            instance = next((i for i in self._instances.values() if i.node == name), None)
            if instance is None:
                return 502
            if instance.killed is not None and instance.stopped is None:
                return None
            if self.status(instance) != "running":
                return 502
            return 200 if self.now() >= instance.created + self.launch_delay else 503

    def _item(self, instance: FakeInstance) -> dict:
        status = self.status(instance)
        return {"workload": instance.workload, "node": self._node_name(instance), "type": instance.type,
                "status": status, "running": status == "running", "created": instance.created,
                "expires": instance.expires, "tags": []}

    def _node_name(self, instance: FakeInstance) -> str:
        return instance.node + SUFFIX if self.node_suffix else instance.node


class _Server(ThreadingHTTPServer):
    """Stays quiet when a client resets the connection (health probes close without reading the body)."""

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def _handler_for(fake: FakeComput3) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_GET(self):
            self._handle("GET")

        def do_POST(self):
            self._handle("POST")

        def _handle(self, method: str) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            path = self.path.split("?", 1)[0]
            with fake._lock:
                fake.calls.append({"method": method, "path": path, "headers": dict(self.headers),
                                   "body": raw.decode("utf-8", "replace")})
            if self.headers.get("X-C3-API-KEY") != fake.api_key:
                return self._answer(401, {"error": "invalid or missing API key"})
            if path.startswith(API_PREFIX + "/"):
                return self._api(method, path[len(API_PREFIX):], raw)
            parts = path.split("/")
            if method == "GET" and len(parts) >= 3 and parts[1] in ("n", "ui") and parts[2]:
                status = fake._node_health(parts[2])
                if status is None:
                    self.close_connection = True
                    return
                return self._answer(status, "ok" if status == 200 else "node unavailable")
            return self._answer(404, {"error": "no such route"})

        def _api(self, method: str, route: str, raw: bytes) -> None:
            routes = {("POST", "/launch"): fake._launch, ("POST", "/workloads"): fake._workloads,
                      ("POST", "/stop"): fake._stop}
            if (method, route) == ("GET", "/balance"):
                return self._answer(200, {"balance": fake.balance})
            if (method, route) == ("GET", "/types"):
                return self._answer(200, list(fake.types))
            action = routes.get((method, route))
            if action is None:
                return self._answer(404, {"error": "no such route"})
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                return self._answer(400, {"error": "the body is not JSON"})
            if not isinstance(body, dict):
                return self._answer(400, {"error": "the body must be a JSON object"})
            self._answer(*action(body))

        def _answer(self, status: int, payload) -> None:
            if isinstance(payload, str):
                data = payload.encode()
                content_type = "text/html; charset=utf-8" if payload.lstrip().startswith("<") else "text/plain"
            else:
                data, content_type = json.dumps(payload).encode(), "application/json"
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler
