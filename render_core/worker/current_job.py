"""The job record of the message a worker thread is processing, loaded once per message.

Middleware and the runner all need the job a ``run_job`` message names; the
first one to ask loads it from Redis, the others get the same record, whatever
order they run in. The record is dropped when the message is done.
"""

from __future__ import annotations

import threading

from dramatiq import Message

from render_core.jobs.store import Job, JobStore


class CurrentJob:
    """Parameters:
      store: the job store records are loaded from.
    """

    def __init__(self, store: JobStore):
        self.store = store
        self._local = threading.local()

    def get(self, message: Message) -> Job | None:
        """The job of ``message`` (its first argument), or None when the record is gone."""
        if getattr(self._local, "message_id", None) != message.message_id:
            self._local.job = self.store.get(message.args[0])
            self._local.message_id = message.message_id
        return self._local.job

    def refresh(self, message: Message) -> Job | None:
        """Load the record again (after this process changed it)."""
        self._local.message_id = None
        return self.get(message)

    def clear(self) -> None:
        """Forget the record (the message is done)."""
        self._local.message_id, self._local.job = None, None
