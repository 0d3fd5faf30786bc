"""The module Dramatiq's CLI loads in each worker process (``c3-render worker``).

Importing it builds the runtime from the environment, makes its broker the
global Dramatiq broker and checks that object storage answers, so a
misconfigured worker stops at start with a clear message.
"""

from __future__ import annotations

import logging

import dramatiq

from .registry import load_registry
from .runtime import Runtime
from .settings import Settings

log = logging.getLogger("c3_render.worker")


def build_worker_runtime() -> Runtime:
    settings = Settings.from_env()
    registry = load_registry()
    runtime = Runtime(settings, registry)
    settings.output_dir.mkdir(parents=True, exist_ok=True)
    runtime.storage.ensure_bucket()
    log.info("worker ready: tasks %s, queues %s", sorted(registry.tasks), sorted(runtime.broker.get_declared_queues()))
    return runtime


runtime = build_worker_runtime()
broker = runtime.broker
dramatiq.set_broker(broker)
