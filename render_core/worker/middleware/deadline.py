"""Deadline middleware: expire jobs that waited too long, time-limit the ones that run.

A queued job whose ``complete_by`` has passed is skipped and marked
``expired`` (with its webhook); a job already terminal (a redelivery) is
skipped, and so is a message the job no longer names (the job was queued again
with a new message; this copy is stale). A job that runs gets the Dramatiq
``time_limit`` option set to min(max_time capped by MAX_RENDER_TIME,
complete_by - now), in ms, so
:class:`dramatiq.middleware.TimeLimit` interrupts it; the runner then marks it
``timed_out``. Actors opt in with the actor option ``deadline=True``.
"""

from __future__ import annotations

import logging
import time

from dramatiq import Middleware
from dramatiq.middleware import SkipMessage

from render_core.jobs import status as st

log = logging.getLogger(__name__)


class Deadline(Middleware):
    """Parameters:
      current_job: the :class:`render_core.worker.current_job.CurrentJob` of this worker.
      finish: ``finish(job_id, status, error=...)`` that ends a job and sends its webhook.
      max_render_time: the cap on any job's run time, in s (MAX_RENDER_TIME).
    """

    actor_options = {"deadline"}

    def __init__(self, current_job, finish, max_render_time: float = float("inf")):
        self.current_job = current_job
        self.finish = finish
        self.max_render_time = max_render_time

    def before_process_message(self, broker, message):
        if not broker.get_actor(message.actor_name).options.get("deadline"):
            return
        job_id = message.args[0]
        job = self.current_job.get(message)
        if job is None or job.terminal:
            log.info("skipping job %s: %s", job_id, "record gone" if job is None else f"already {job.status}")
            raise SkipMessage(job_id)
        current = message.options.get("redis_message_id")
        if job.message_id and current and current != job.message_id:
            log.info("skipping a stale message of job %s: the job was queued again", job_id)
            raise SkipMessage(job_id)
        now = time.time()
        if now >= job.complete_by:
            late = now - job.complete_by
            self.finish(job_id, st.EXPIRED,
                        error=f"job expired: it was not started before its complete_by deadline "
                              f"(passed {late:.0f} s ago)")
            raise SkipMessage(job_id)
        message.options["time_limit"] = time_limit_ms(job, now, self.max_render_time)


def time_limit_ms(job, now: float, max_render_time: float = float("inf")) -> int:
    """Milliseconds the job may still run: min(max_time (capped by ``max_render_time`` s) from its
    start, complete_by) - now."""
    return max(1, int((job.deadline(job.started_at or now, max_render_time) - now) * 1000))
