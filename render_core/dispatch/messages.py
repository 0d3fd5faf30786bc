"""The messages the API and the workers exchange: actor names, queues and how each message is built.

A job runs as ``run_job(job_id)`` on its task's queue (``Task.queue``); a
webhook attempt is ``deliver_webhook(job_id, attempt)`` on the ``webhooks`` queue
(the URL and body wait in the job's webhook outbox).
Both sides build messages here, so the names exist once.
"""

from __future__ import annotations

import uuid

from dramatiq import Message

RUN_JOB = "run_job"
DELIVER_WEBHOOK = "deliver_webhook"
WEBHOOK_QUEUE = "webhooks"


def run_job_message(queue_name: str, job_id: str) -> Message:
    """``run_job(job_id)`` on ``queue_name``."""
    return _message(queue_name, RUN_JOB, (job_id,))


def webhook_message(job_id: str, attempt: int) -> Message:
    """``deliver_webhook(job_id, attempt)`` on the webhook queue; ``attempt`` counts from 1."""
    return _message(WEBHOOK_QUEUE, DELIVER_WEBHOOK, (job_id, attempt))


def _message(queue_name: str, actor_name: str, args: tuple) -> Message:
    """A new message; its Redis id (unique per enqueue: a re-sent copy gets a fresh one) is its id."""
    message_id = str(uuid.uuid4())
    return Message(queue_name=queue_name, actor_name=actor_name, args=args, kwargs={},
                   options={"redis_message_id": message_id}, message_id=message_id)
