"""What Dramatiq runs in each worker process: ``render_core.worker.boot:boot``.

``boot()`` builds the worker's services from the environment, makes their
broker the global Dramatiq broker and checks that object storage answers, so
a misconfigured worker stops at start with a clear message. Importing this
module does nothing by itself.
"""

from __future__ import annotations

import logging

import dramatiq

from render_core.config.settings import Settings, check_plugin_settings
from render_core.gpu.states import STATES
from render_core.obs import metrics
from render_core.obs.logs import configure_logging
from render_core.sdk.registry import load_registry

from .middleware.process_threads import ProcessThreads
from .services import WorkerServices

log = logging.getLogger("c3_render.worker")


def warn_if_unsigned(settings: Settings) -> None:
    """Log a warning when webhooks will go out unsigned (no WEBHOOK_SECRET)."""
    if not settings.webhook_secret:
        log.warning("WEBHOOK_SECRET is not set: webhooks are sent unsigned and receivers cannot verify them")


def boot() -> WorkerServices:
    """Build this process's worker services and install their broker (Dramatiq's broker callable)."""
    settings = Settings.from_env()
    configure_logging(settings.log_level)
    registry = load_registry(settings.render_plugins, trace_hooks=settings.trace_hooks)
    check_plugin_settings(registry.settings)  # a bad plugin variable stops the worker here, named
    services = WorkerServices(settings, registry)
    warn_if_unsigned(settings)
    settings.output_dir.mkdir(parents=True, exist_ok=True)
    services.storage.ensure_bucket()
    services.storage.ensure_upload_expiry(settings.upload_expiry_days)
    metrics.declare_series(registry.tasks.values(), STATES)
    services.broker.add_middleware(ProcessThreads(services.background()))
    dramatiq.set_broker(services.broker)
    log.info("worker ready: tasks %s, queues %s", sorted(registry.tasks),
             sorted(services.broker.get_declared_queues()))
    return services
