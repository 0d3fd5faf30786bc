"""Webhook delivery: ``deliver_webhook`` makes one attempt; the pump sends the attempts that are due.

The schedule (:class:`WebhookSchedule`) says how far apart attempts are; the
outbox (:class:`WebhookOutbox`) keeps what is owed in Redis, so no attempt
waits in a worker's memory: a deploy, a crash or a Redis restart between two
attempts delays the webhook, never loses it. Every attempt of a job carries
the same identity (``webhook-id``: the job id), and a failing receiver never
changes the job's status.
"""

from __future__ import annotations

import json
import logging
import threading
import time

import redis
from dramatiq.brokers.redis import RedisBroker

from render_core.dispatch.messages import webhook_message
from render_core.jobs.webhook_outbox import DELIVERED, FAILED, RETRYING, WebhookOutbox, claim_seconds
from render_core.jobs.webhook_schedule import WebhookSchedule
from render_core.net.http import AddressPolicy
from render_core.net.webhook_post import post_once
from render_core.obs import metrics

log = logging.getLogger(__name__)


class WebhookDelivery:
    """The ``deliver_webhook(job_id, attempt)`` actor.

    Parameters:
      outbox: the webhook outbox.
      schedule: delays between attempts.
      timeout: seconds one POST may wait for the receiver (connect and read each).
      url_policy: the address policy for notify URLs.
      secrets: the WEBHOOK_SECRET keys every POST is signed with (none: unsigned).
      clock: unix time source.
    """

    def __init__(self, *, outbox: WebhookOutbox, schedule: WebhookSchedule, timeout: float,
                 url_policy: AddressPolicy, secrets: tuple[bytes, ...] = (), clock=time.time):
        self.outbox = outbox
        self.schedule = schedule
        self.timeout = timeout
        self.url_policy = url_policy
        self.secrets = secrets
        self.clock = clock

    def deliver(self, job_id: str, attempt=1, *legacy) -> None:
        """Make attempt ``attempt`` (1-based) of the job's webhook, unless it was made or is in flight."""
        if isinstance(attempt, str):  # (job_id, url, body) of a release without the outbox
            self._post(job_id, "unknown", attempt, json.dumps(legacy[0]).encode() if legacy else b"{}")
            return
        now = self.clock()
        claim = self.outbox.begin(job_id, attempt, now, now + claim_seconds(self.timeout))
        if claim.state != "go":
            log.info("webhook of job %s attempt %d: %s, nothing to send", job_id, attempt, claim.state)
            return
        error = self._post(job_id, claim.task or "unknown", claim.url, claim.body)
        if error is None:
            metrics.webhook_deliveries.labels(DELIVERED).inc()
            self.outbox.record(job_id, attempt, DELIVERED)
            return
        delay = self.schedule.delay_after(attempt)
        if delay is None:
            log.warning("webhook for job %s failed after %d attempts: %s", job_id, attempt, error)
            metrics.webhook_deliveries.labels(FAILED).inc()
            self.outbox.record(job_id, attempt, FAILED, error)
            return
        log.info("webhook for job %s attempt %d failed (%s); next in %.0f s", job_id, attempt, error, delay)
        self.outbox.record(job_id, attempt, RETRYING, error, next_at=self.clock() + delay)

    def _post(self, job_id: str, task: str, url: str, body: bytes) -> str | None:
        """One POST of ``body`` (JSON bytes), signed, with ``webhook-id: <job id>`` on every attempt."""
        with metrics.stage_seconds.labels(task, "webhook").time():
            error = post_once(url, json.loads(body), webhook_id=job_id, secrets=self.secrets,
                              policy=self.url_policy, timeout=self.timeout)
        metrics.webhook_attempts.labels("ok" if error is None else "error").inc()
        return error


class WebhookPump:
    """Sends ``deliver_webhook`` for every outbox entry that is due, every ``interval`` s, from a daemon thread.

    Every worker process runs one; the outbox hands each due entry to one pump.

    Parameters:
      outbox: the webhook outbox.
      broker: where the messages go.
      schedule: its finest delay sets the polling interval (0.05 to 1 s).
      timeout: the POST timeout (s); an attempt not reported after :func:`claim_seconds` is sent again.
    """

    def __init__(self, outbox: WebhookOutbox, broker: RedisBroker, schedule: WebhookSchedule, timeout: float,
                 clock=time.time):
        self.outbox = outbox
        self.broker = broker
        self.interval = min(1.0, max(0.05, schedule.finest() / 2))
        self.claim = claim_seconds(timeout)
        self.clock = clock
        self._stop = threading.Event()

    def start(self) -> None:
        threading.Thread(target=self._loop, name="c3-webhook-pump", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def pump_once(self) -> int:
        """Send the due attempts; returns how many messages were sent."""
        now = self.clock()
        due = self.outbox.claim_due(now, now + self.claim)
        for job_id, made in due:
            self.broker.enqueue(webhook_message(job_id, made + 1))
        return len(due)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.pump_once()
            except redis.RedisError as exc:
                log.warning("webhook pump: Redis unavailable: %s", exc)
            except Exception:
                log.exception("webhook pump pass failed")
            self._stop.wait(self.interval)
