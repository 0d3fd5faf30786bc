"""API request metrics (by route template, method, status) and the ``/metrics`` route."""

from __future__ import annotations

import time

import falcon
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from render_core.obs import metrics


class RequestMetrics:
    """Falcon middleware: counts and times every request; the label is the route template."""

    def process_request(self, req, resp):
        req.context.started = time.perf_counter()

    def process_response(self, req, resp, resource, req_succeeded):
        route = req.uri_template or "unmatched"
        elapsed = time.perf_counter() - getattr(req.context, "started", time.perf_counter())
        code = (resp.status or "200").split()[0] if isinstance(resp.status, str) else str(int(resp.status))
        metrics.http_requests.labels(route, req.method, code).inc()
        metrics.http_request_seconds.labels(route, req.method).observe(elapsed)


class MetricsResource:
    def __init__(self, registry):
        self.registry = registry

    def on_get(self, req, resp):
        resp.content_type = CONTENT_TYPE_LATEST
        resp.data = generate_latest(self.registry)
        resp.status = falcon.HTTP_200
