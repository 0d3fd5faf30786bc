"""Submitting and finishing jobs: a record change and the message it implies, written together.

``submit`` stores a queued job and its ``run_job`` message in one MULTI/EXEC;
``finish`` moves a job to a terminal status, counts it and sends its webhook;
``requeue`` sends ``run_job`` again for a job that goes back to the queue.
"""

from __future__ import annotations

from dramatiq.brokers.redis import RedisBroker

from render_core.dispatch.broker import enqueue_in_pipeline
from render_core.dispatch.messages import run_job_message, webhook_message
from render_core.obs import metrics
from render_core.sdk.task import Task

from .store import JobStore
from .webhook_payload import payload


class JobLifecycle:
    """Parameters:
      store: the :class:`JobStore`.
      broker: the Redis broker the messages go through (sending is enough).
    """

    def __init__(self, store: JobStore, broker: RedisBroker):
        self.store = store
        self.broker = broker

    def submit(self, task: Task, params: dict) -> dict:
        """Store a queued job and its ``run_job`` message in one MULTI/EXEC; returns the record."""
        record = self.store.new_record(task.name, params)
        message = run_job_message(task.queue, record["id"])
        with self.store.client.pipeline(transaction=True) as pipe:
            self.store.create(record, pipe)
            enqueue_in_pipeline(self.broker, pipe, message)
            pipe.execute()
        metrics.jobs_submitted.labels(task.name).inc()
        return record

    def requeue(self, task: Task, job_id: str) -> None:
        """Send ``run_job`` for an existing job again (a retry on a fresh node)."""
        self.broker.enqueue(run_job_message(task.queue, job_id))

    def finish(self, job_id: str, status: str, **fields) -> bool:
        """Move a job to a terminal ``status``; on success count it and send its webhook."""
        applied, _ = self.store.transition(job_id, status, **fields)
        if not applied:
            return False
        job = self.store.get(job_id)
        if job is None:
            return True
        metrics.jobs_finished.labels(job.type, status).inc()
        if job.notify_url:
            self.broker.enqueue(webhook_message(job.id, job.notify_url, payload(job)))
        return True
