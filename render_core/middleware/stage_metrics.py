"""Stage-metrics middleware: queue wait and jobs in progress, per task.

The other stages (lease, download, inference, upload, webhook) are timed
where they happen, through :func:`render_core.metrics.stage_seconds`.
"""

from __future__ import annotations

import threading
import time

from dramatiq import Middleware

from .. import metrics

RUN_JOB = "run_job"


def task_of_queue(queue_name: str) -> str:
    """``task.csm`` or ``task.csm.DQ`` -> ``csm``."""
    name = queue_name.removesuffix(".DQ").removesuffix(".XQ")
    return name.removeprefix("task.")


class StageMetrics(Middleware):
    """Observes ``queue_wait`` (s from enqueue to start) and the in-progress gauge."""

    def __init__(self):
        self._local = threading.local()

    def before_process_message(self, broker, message):
        if message.actor_name != RUN_JOB:
            return
        task = task_of_queue(message.queue_name)
        waited = max(0.0, time.time() - message.message_timestamp / 1000)
        metrics.stage_seconds.labels(task, "queue_wait").observe(waited)
        metrics.jobs_in_progress.labels(task).inc()
        self._local.task = task

    def after_process_message(self, broker, message, *, result=None, exception=None):
        task = getattr(self._local, "task", None)
        if task is not None:
            metrics.jobs_in_progress.labels(task).dec()
            self._local.task = None

    after_skip_message = after_process_message
