"""The module Dramatiq's CLI loads in each worker process (``c3-render worker``).

Importing it builds the runtime from the environment, makes its broker the
global Dramatiq broker and checks that object storage answers, so a
misconfigured worker stops at start with a clear message.
"""

from __future__ import annotations

import logging
import os
import threading
import time

import dramatiq

from . import metrics
from .registry import load_registry
from .runtime import Runtime
from .settings import Settings

log = logging.getLogger("c3_render.worker")

#: Seconds between heartbeat updates.
HEARTBEAT_INTERVAL = 5.0


def build_worker_runtime() -> Runtime:
    settings = Settings.from_env()
    registry = load_registry()
    runtime = Runtime(settings, registry)
    settings.output_dir.mkdir(parents=True, exist_ok=True)
    runtime.storage.ensure_bucket()
    metrics.declare_series(registry.tasks.values())
    log.info("worker ready: tasks %s, queues %s", sorted(registry.tasks), sorted(runtime.broker.get_declared_queues()))
    return runtime


def start_heartbeat(interval: float = HEARTBEAT_INTERVAL) -> None:
    """Publish this process's thread count and a heartbeat timestamp every ``interval`` seconds."""
    metrics.worker_threads.set(int(os.environ.get("WORKER_THREADS", "8")))

    def beat():
        while True:
            metrics.worker_heartbeat.set(time.time())
            time.sleep(interval)

    threading.Thread(target=beat, name="c3-heartbeat", daemon=True).start()


runtime = build_worker_runtime()
start_heartbeat()
monitor = runtime.monitor()
if monitor is not None:
    monitor.start()
broker = runtime.broker
dramatiq.set_broker(broker)
