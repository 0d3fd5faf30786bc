"""Deadline middleware: expire jobs that waited too long, time-limit the ones that run.

A queued job whose ``complete_by`` has passed is skipped and marked
``expired`` (with its webhook). A job that runs gets the Dramatiq
``time_limit`` option set to min(max_time, complete_by - now), in ms, so
:class:`dramatiq.middleware.TimeLimit` (which must come after this one)
interrupts it; the runner then marks it ``timed_out``.
"""

from __future__ import annotations

import logging
import time

from dramatiq import Middleware
from dramatiq.middleware import SkipMessage

from .. import status as st

log = logging.getLogger(__name__)

RUN_JOB = "run_job"


class Deadline(Middleware):
    """Parameters:
      jobs: the :class:`render_core.jobs.JobStore`.
      finish: ``finish(job_id, status, error=...)`` that ends a job and sends its webhook.
    """

    def __init__(self, jobs, finish):
        self.jobs = jobs
        self.finish = finish

    def before_process_message(self, broker, message):
        if message.actor_name != RUN_JOB:
            return
        job_id = message.args[0]
        job = self.jobs.get(job_id)
        if job is None or job.terminal:
            log.info("skipping job %s: %s", job_id, "record gone" if job is None else f"already {job.status}")
            raise SkipMessage(job_id)
        now = time.time()
        if now >= job.complete_by:
            late = now - job.complete_by
            self.finish(job_id, st.EXPIRED,
                        error=f"job expired: it was not started before its complete_by deadline "
                              f"(passed {late:.0f} s ago)")
            raise SkipMessage(job_id)
        message.options["time_limit"] = time_limit_ms(job, now)


def time_limit_ms(job, now: float) -> int:
    """Milliseconds the job may still run: min(max_time from its start, complete_by) - now."""
    return max(1, int((job.deadline(job.started_at or now) - now) * 1000))
