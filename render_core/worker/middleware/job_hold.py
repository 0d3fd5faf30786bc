"""Job-hold middleware: a job is held (see :mod:`render_core.worker.job_holds`) while a thread processes it.

Actors opt in with the actor option ``job_hold=True``. It comes first among the
job middleware, so the job is held before anything else reads or changes it.
"""

from __future__ import annotations

from dramatiq import Middleware


class JobHold(Middleware):
    """Parameters:
      holds: this process's :class:`render_core.worker.job_holds.JobHolds`.
    """

    actor_options = {"job_hold"}

    def __init__(self, holds):
        self.holds = holds

    def before_process_message(self, broker, message):
        if broker.get_actor(message.actor_name).options.get("job_hold"):
            self.holds.begin(message.args[0])

    def after_process_message(self, broker, message, *, result=None, exception=None):
        if broker.get_actor(message.actor_name).options.get("job_hold"):
            self.holds.end()

    after_skip_message = after_process_message
