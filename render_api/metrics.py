"""API request metrics (by route template, method, status) and the ``/metrics`` route.

Label values come from fixed sets only, so no client can grow the page: the route is
a template of a mounted route or ``unmatched``, the method one of :data:`METHODS` or
``other``, the status a three-digit code.
"""

from __future__ import annotations

import time

import falcon
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from render_core.obs import metrics

#: Methods counted under their own name; any other method is counted as ``other``.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "other"
#: The route label of a request that matched no mounted route.
UNMATCHED = "unmatched"


def method_label(method: str) -> str:
    """``method`` when it is one of METHODS, else ``other``."""
    return method if method in METHODS else OTHER_METHOD


def status_label(status) -> str:
    """The three-digit code of a Falcon status (``"404 Not Found"``, ``404`` or an HTTPStatus)."""
    code = status.split()[0] if isinstance(status, str) else str(int(status or 200))
    return code if len(code) == 3 and code.isdigit() else "other"


class RequestMetrics:
    """Falcon middleware: counts and times every request; the label is the route template.

    The labelled series are looked up once per (route, method, status) and kept: the lookup
    costs more than the increment on the request path.
    """

    def __init__(self):
        self._counters: dict[tuple, object] = {}
        self._timers: dict[tuple, object] = {}

    def process_request(self, req, resp):
        req.context.started = time.perf_counter()

    def process_response(self, req, resp, resource, req_succeeded):
        route = req.uri_template or UNMATCHED
        method = method_label(req.method)
        elapsed = time.perf_counter() - getattr(req.context, "started", time.perf_counter())
        key = (route, method, status_label(resp.status))
        counter = self._counters.get(key)
        if counter is None:  # label values come from fixed sets: the cache stays small
            counter = self._counters[key] = metrics.http_requests.labels(*key)
        timer = self._timers.get(key[:2])
        if timer is None:
            timer = self._timers[key[:2]] = metrics.http_request_seconds.labels(route, method)
        counter.inc()
        timer.observe(elapsed)


class MetricsResource:
    def __init__(self, registry):
        self.registry = registry

    def on_get(self, req, resp):
        resp.content_type = CONTENT_TYPE_LATEST
        resp.data = generate_latest(self.registry)
        resp.status = falcon.HTTP_200
