"""``create_app``: the Falcon WSGI application of C3 Render."""

from __future__ import annotations

import logging

import falcon

from render_core.metrics_export import QueueCollector, scrape_registry
from render_core.runtime import Runtime

from . import errors
from .auth import ApiKeyAuth
from .metrics import MetricsResource, RequestMetrics
from .openapi import OpenApiResource
from .resources.health import Liveness, Readiness
from .resources.jobs import JobUpdateResource, ResultResource, StatusResource
from .resources.tasks import TaskResource

log = logging.getLogger(__name__)

#: Paths owned by the core; a task may not use them as its name.
RESERVED = frozenset({"status", "result", "job", "healthz", "readyz", "metrics", "openapi.json"})


def create_app(runtime: Runtime) -> falcon.App:
    """Build the app: one ``POST /<task>`` per registered task plus the job and probe routes."""
    app = falcon.App(middleware=[RequestMetrics(), ApiKeyAuth(runtime.settings.render_api_key)],
                     cors_enable=False)
    app.req_options.strip_url_path_trailing_slash = True
    errors.install(app)
    for task in runtime.registry.tasks.values():
        if task.name in RESERVED:
            log.error("task %r is not mounted: the path is reserved by the API", task.name)
            continue
        app.add_route(f"/{task.name}", TaskResource(runtime, task))
    app.add_route("/status/{job_id}", StatusResource(runtime))
    app.add_route("/result/{job_id}", ResultResource(runtime))
    app.add_route("/job/{job_id}", JobUpdateResource(runtime))
    app.add_route("/healthz", Liveness())
    app.add_route("/readyz", Readiness(runtime.redis))
    app.add_route("/openapi.json", OpenApiResource(runtime.registry))
    queues = {task.queue for task in runtime.registry.tasks.values()} | {"webhooks"}
    app.add_route("/metrics", MetricsResource(scrape_registry([QueueCollector(runtime.redis, queues)])))
    return app
