"""Stage-metrics middleware: queue wait and jobs in progress, per task.

The other stages (lease, download, inference, upload, webhook) are timed
where they happen, through :func:`render_core.obs.metrics.stage_seconds`.
Actors opt in with the actor option ``stage_metrics=True``.
"""

from __future__ import annotations

import threading
import time

from dramatiq import Middleware

from render_core.obs import metrics


class StageMetrics(Middleware):
    """Observes ``queue_wait`` (s from enqueue to start) and the in-progress gauge.

    Parameters:
      current_job: the :class:`render_core.worker.current_job.CurrentJob` of this worker.
    """

    actor_options = {"stage_metrics"}

    def __init__(self, current_job):
        self.current_job = current_job
        self._local = threading.local()

    def before_process_message(self, broker, message):
        if not broker.get_actor(message.actor_name).options.get("stage_metrics"):
            return
        job = self.current_job.get(message)
        if job is None:
            return
        waited = max(0.0, time.time() - message.message_timestamp / 1000)
        metrics.stage_seconds.labels(job.type, "queue_wait").observe(waited)
        metrics.jobs_in_progress.labels(job.type).inc()
        self._local.task = job.type

    def after_process_message(self, broker, message, *, result=None, exception=None):
        task = getattr(self._local, "task", None)
        if task is not None:
            metrics.jobs_in_progress.labels(task).dec()
            self._local.task = None

    after_skip_message = after_process_message
