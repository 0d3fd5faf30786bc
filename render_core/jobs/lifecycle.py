"""Submitting and finishing jobs: a record change and the message it implies, written together.

``submit`` stores a queued job, its index entries (the owner's list, the open jobs) and its
``run_job`` message in one script call (one round trip, see :mod:`.submission`);
``submit_once`` does the same at most once per idempotency key (a WATCH and a MULTI/EXEC); ``finish`` moves a job to a terminal status and writes its webhook to the
outbox in one script (see :mod:`render_core.jobs.store`); ``requeue`` puts a running job back
to ``queued`` with a new ``run_job`` message, also in one script; ``return_to_queue`` does the
same for a job a stopping worker gives back.
"""

from __future__ import annotations

import redis

from render_core.dispatch.broker import WakingRedisBroker, enqueue_in_pipeline, redis_id, with_redis_id
from render_core.dispatch.messages import run_job_message
from render_core.obs import metrics
from render_core.sdk.task import Task

from . import status as st
from .idempotency import TTL as IDEMPOTENCY_TTL
from .idempotency import Claim
from .index import JobIndex
from .keys import OPEN_JOBS, job_key
from .store import JobStore, encode_fields
from .submission import SubmitScript


class JobLifecycle:
    """Parameters:
      store: the :class:`JobStore`.
      broker: the Redis broker the messages go through (sending is enough).
      index: the per-owner job index (default: one on the store's client and TTL).
    """

    #: WATCH conflicts tolerated before ``submit_once`` gives up (each one means another
    #: request wrote the key, so the next read finds it).
    WATCH_RETRIES = 5

    def __init__(self, store: JobStore, broker: WakingRedisBroker, index: JobIndex | None = None):
        self.store = store
        self.broker = broker
        self.index = index or JobIndex(store.client, store.ttl)
        self._submit = SubmitScript(store.client)

    def submit(self, task: Task, params: dict, *, owner: str = "") -> dict:
        """Store a queued job (naming its message), its index entries and its ``run_job`` message
        in one script call; returns the record."""
        record = self.store.new_record(task.name, params, owner=owner, queue=task.queue)
        message, message_keys, message_args = self.broker.prepare(run_job_message(task.queue, record["id"]))
        record["message_id"] = redis_id(message)
        self._submit(  # not retried: a repeat after a lost answer would queue a second message
            record_key=job_key(record["id"]), fields=encode_fields(record), ttl=self.store.ttl,
            job_id=record["id"], created_at=record["created_at"], open_key=OPEN_JOBS,
            complete_by=record["complete_by"], index_keys=self.index.keys_for(owner), index_ttl=self.index.ttl,
            message_keys=message_keys, message_args=message_args)
        self.broker.emit_after("enqueue", message, None)
        metrics.jobs_submitted.labels(task.name).inc()
        return record

    def submit_once(self, task: Task, params: dict, claim: Claim, *, owner: str = "") -> tuple[str, bool]:
        """Submit unless ``claim`` was used before; returns (job id, replayed).

        The claim is read under WATCH and written in the submission's MULTI/EXEC, so of
        concurrent duplicates exactly one creates the job; the others replay its id.
        Raises :class:`IdempotencyConflict` when the claim was used with another body.
        """
        ttl = min(IDEMPOTENCY_TTL, self.store.ttl)
        with self.store.client.pipeline(transaction=True) as pipe:
            for _ in range(self.WATCH_RETRIES):
                try:
                    pipe.watch(claim.redis_key)
                    stored = pipe.get(claim.redis_key)
                    if stored is not None:
                        pipe.unwatch()
                        return claim.replay(stored), True
                    record = self.store.new_record(task.name, params, owner=owner, queue=task.queue)
                    pipe.multi()
                    pipe.set(claim.redis_key, claim.value(record["id"]), ex=ttl)
                    self._queue_submission(pipe, task, record)
                    pipe.execute()
                except redis.WatchError:
                    pipe.reset()
                    continue
                metrics.jobs_submitted.labels(task.name).inc()
                return record["id"], False
        raise redis.WatchError(f"idempotency key kept changing ({self.WATCH_RETRIES} tries)")

    def _queue_submission(self, pipe, task: Task, record: dict) -> None:
        """The record (naming its message), its index entries and its run_job message, on ``pipe``."""
        message = with_redis_id(run_job_message(task.queue, record["id"]))
        record["message_id"] = redis_id(message)
        self.store.create(record, pipe)
        self.index.add(pipe, record)
        enqueue_in_pipeline(self.broker, pipe, message)

    def requeue(self, task: Task, job_id: str, **fields) -> bool:
        """A running job goes back to ``queued`` with a new ``run_job`` message (a retry on a fresh node)."""
        return self.store.requeue(job_id, run_job_message(task.queue, job_id), when=(st.RUNNING,), **fields)

    def return_to_queue(self, task: Task, job_id: str, reason: str) -> bool:
        """Give a job back (a stopping worker): ``queued`` again with a fresh run time and a new
        ``run_job`` message, in one script. Returns False when the job was no longer running or
        queued (cancelled, ended): its message is then skipped by the worker that takes it.
        ``attempts`` keeps the count of runs started.
        """
        return self.store.requeue(job_id, run_job_message(task.queue, job_id), when=(st.RUNNING, st.QUEUED),
                                  started_at=None, progress_message=reason)

    def finish(self, job_id: str, status: str, **fields) -> bool:
        """Move a job to a terminal ``status`` with its webhook; on success count it."""
        applied, job_type = self.store.finish(job_id, status, **fields)
        if applied:
            metrics.jobs_finished.labels(job_type or "unknown", status).inc()
        return applied
