"""``deliver_webhook``: POST a job's final payload to its notify_url, with retries.

Attempts and spacing come from WEBHOOK_ATTEMPTS (5) and WEBHOOK_INTERVAL
(5 s). Each attempt's outcome is recorded on the job (when the record still
exists); a failing receiver never changes the job's status.
"""

from __future__ import annotations

import logging

import dramatiq
from dramatiq.middleware import CurrentMessage

from render_core.config.settings import Settings
from render_core.jobs.store import JobStore
from render_core.net.http import AddressPolicy
from render_core.net.webhook_post import post_once
from render_core.obs import metrics

log = logging.getLogger(__name__)


class WebhookDelivery:
    """Parameters:
      settings: attempts, interval (s) and timeout (s) of deliveries.
      jobs: the job store the outcome is recorded in.
      url_policy: the address policy for notify URLs.
    """

    def __init__(self, *, settings: Settings, jobs: JobStore, url_policy: AddressPolicy):
        self.settings = settings
        self.jobs = jobs
        self.url_policy = url_policy

    def deliver(self, job_id: str, url: str, body: dict) -> None:
        """One delivery attempt; raises ``dramatiq.Retry`` while attempts remain."""
        settings = self.settings
        message = CurrentMessage.get_current_message()
        attempt = (message.options.get("retries", 0) if message else 0) + 1
        job = self.jobs.get(job_id)
        task = job.type if job else "unknown"
        with metrics.stage_seconds.labels(task, "webhook").time():
            error = post_once(url, body, webhook_id=job_id, secrets=settings.webhook_keys(),
                              policy=self.url_policy, timeout=settings.webhook_timeout)
        if error is None:
            metrics.webhook_attempts.labels("ok").inc()
            metrics.webhook_deliveries.labels("delivered").inc()
            self.jobs.record_webhook(job_id, "delivered", attempt)
            return
        metrics.webhook_attempts.labels("error").inc()
        if attempt >= settings.webhook_attempts:
            log.warning("webhook for job %s failed after %d attempts: %s", job_id, attempt, error)
            metrics.webhook_deliveries.labels("failed").inc()
            self.jobs.record_webhook(job_id, "failed", attempt, error)
            return
        log.info("webhook for job %s attempt %d failed: %s", job_id, attempt, error)
        self.jobs.record_webhook(job_id, "retrying", attempt, error)
        raise dramatiq.Retry(error, delay=int(settings.webhook_interval * 1000))
