"""``create_app``: the Falcon WSGI application of C3 Render."""

from __future__ import annotations

import logging

import falcon

from render_core.dispatch.messages import WEBHOOK_QUEUE
from render_core.obs.export import QueueCollector, scrape_registry

from . import errors
from .auth import ApiKeyAuth
from .metrics import MetricsResource, RequestMetrics
from .openapi import OpenApiResource
from .resources.health import Liveness, Readiness
from .resources.job_list import JobListResource
from .resources.jobs import JobUpdateResource, ResultResource, StatusResource
from .resources.tasks import TaskResource
from .resources.uploads import UploadResource
from .services import ApiServices

log = logging.getLogger(__name__)

#: Paths owned by the core; a task may not use them as its name.
RESERVED = frozenset({"status", "result", "job", "jobs", "uploads", "healthz", "readyz", "metrics",
                      "openapi.json"})


def create_app(services: ApiServices) -> falcon.App:
    """Build the app: one ``POST /<task>`` per registered task plus the job and probe routes."""
    services.settings.check_api_access()
    app = falcon.App(middleware=[RequestMetrics(), ApiKeyAuth(services.keys)],
                     cors_enable=False)
    app.req_options.strip_url_path_trailing_slash = True
    app.req_options.keep_blank_qs_values = True  # `?limit=` is an invalid limit, not an absent one
    errors.install(app)
    for task in services.registry.tasks.values():
        if task.name in RESERVED:
            log.error("task %r is not mounted: the path is reserved by the API", task.name)
            continue
        app.add_route(f"/{task.name}", TaskResource(services, task))
    app.add_route("/status/{job_id}", StatusResource(services))
    app.add_route("/result/{job_id}", ResultResource(services))
    app.add_route("/job/{job_id}", JobUpdateResource(services))
    app.add_route("/jobs", JobListResource(services))
    app.add_route("/uploads", UploadResource(services))
    app.add_route("/healthz", Liveness())
    app.add_route("/readyz", Readiness(services.redis))
    app.add_route("/openapi.json", OpenApiResource(services.registry, services.settings))
    queues = {task.queue for task in services.registry.tasks.values()} | {WEBHOOK_QUEUE}
    app.add_route("/metrics", MetricsResource(scrape_registry(services.settings.prometheus_multiproc_dir,
                                                                    [QueueCollector(services.redis, queues)])))
    return app
