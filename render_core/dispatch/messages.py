"""The messages the API and the workers exchange: actor names, queues and how each message is built.

A job runs as ``run_job(job_id)`` on its task's queue (``Task.queue``); a
webhook is ``deliver_webhook(job_id, url, body)`` on the ``webhooks`` queue.
Both sides build messages here, so the names exist once.
"""

from __future__ import annotations

from dramatiq import Message

RUN_JOB = "run_job"
DELIVER_WEBHOOK = "deliver_webhook"
WEBHOOK_QUEUE = "webhooks"


def run_job_message(queue_name: str, job_id: str) -> Message:
    """``run_job(job_id)`` on ``queue_name``."""
    return _message(queue_name, RUN_JOB, (job_id,))


def webhook_message(job_id: str, url: str, body: dict) -> Message:
    """``deliver_webhook(job_id, url, body)`` on the webhook queue."""
    return _message(WEBHOOK_QUEUE, DELIVER_WEBHOOK, (job_id, url, body))


def _message(queue_name: str, actor_name: str, args: tuple) -> Message:
    return Message(queue_name=queue_name, actor_name=actor_name, args=args, kwargs={}, options={})
