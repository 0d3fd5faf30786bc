"""``deliver_webhook``: POST a job's final payload to its notify_url, with retries.

Attempts and spacing come from WEBHOOK_ATTEMPTS (5) and WEBHOOK_INTERVAL
(5 s). Each attempt's outcome is recorded on the job (when the record still
exists); a failing receiver never changes the job's status.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import dramatiq
from dramatiq.middleware import CurrentMessage

from . import metrics
from .webhooks import post_once

if TYPE_CHECKING:
    from .runtime import Runtime

log = logging.getLogger(__name__)


def deliver_webhook(runtime: "Runtime", job_id: str, url: str, body: dict) -> None:
    """One delivery attempt; raises ``dramatiq.Retry`` while attempts remain."""
    settings = runtime.settings
    message = CurrentMessage.get_current_message()
    attempt = (message.options.get("retries", 0) if message else 0) + 1
    job = runtime.jobs.get(job_id)
    task = job.type if job else "unknown"
    with metrics.stage_seconds.labels(task, "webhook").time():
        error = post_once(url, body, policy=runtime.url_policy, timeout=settings.webhook_timeout)
    if error is None:
        metrics.webhook_attempts.labels("ok").inc()
        metrics.webhook_deliveries.labels("delivered").inc()
        runtime.jobs.record_webhook(job_id, "delivered", attempt)
        return
    metrics.webhook_attempts.labels("error").inc()
    if attempt >= settings.webhook_attempts:
        log.warning("webhook for job %s failed after %d attempts: %s", job_id, attempt, error)
        metrics.webhook_deliveries.labels("failed").inc()
        runtime.jobs.record_webhook(job_id, "failed", attempt, error)
        return
    log.info("webhook for job %s attempt %d failed: %s", job_id, attempt, error)
    runtime.jobs.record_webhook(job_id, "retrying", attempt, error)
    raise dramatiq.Retry(error, delay=int(settings.webhook_interval * 1000))
