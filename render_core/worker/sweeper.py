"""The sweeper: every accepted job reaches a terminal status, whatever happened to workers and Redis.

One worker process, elected through a Redis key, sweeps every ``interval``
seconds. It reads the open-jobs index (non-terminal jobs by ``complete_by``;
O(open jobs), no SCAN) and, per job:

- past ``complete_by + grace``: ends it (``timed_out`` if it had started,
  ``expired`` if not) with an error saying so, and its webhook;
- held by a live worker (running, or waiting in a worker's memory; see
  :mod:`render_core.worker.job_holds`), or its current message waiting in its
  queue: leaves it alone (a held job's record is not even read);
- otherwise the job is orphaned: its message was lost with an unsynced Redis
  write, or sits in the in-flight set of a worker that forgot it after a
  connection error, or its worker died and Dramatiq has not returned the
  message yet. If it stays orphaned for ``grace`` seconds the sweeper puts it
  back at the front of its queue with a new message (older copies are then
  skipped), or, with less than ``min_requeue`` seconds left before
  ``complete_by``, ends it.

Invariant: while Redis answers and at least one worker process runs, every
accepted job is terminal by ``complete_by + grace + interval`` (plus up to
``3 * interval`` when the sweeping process itself dies and another takes over).
With the defaults (``JOB_HOLD_TTL`` 30 s, ``SWEEP_INTERVAL`` 15 s) that is 45 s,
90 s across a failover.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

import redis

from render_core.dispatch.broker import queue_key
from render_core.dispatch.messages import run_job_message
from render_core.jobs import status as st
from render_core.jobs.keys import HELD_JOBS, OPEN_JOBS, job_key
from render_core.jobs.lifecycle import JobLifecycle

from .leader import Leadership

log = logging.getLogger(__name__)

LEADER_KEY = "c3render:sweeper-leader"
_FIELDS = ("status", "message_id", "queue", "type", "complete_by", "started_at")


@dataclass(frozen=True)
class SweepPolicy:
    """Times in seconds: ``interval`` between sweeps; ``grace`` a job may look orphaned before it is
    requeued, and may run past ``complete_by`` before it is ended; ``min_requeue`` left before
    ``complete_by`` for an orphan to be requeued rather than ended."""

    interval: float = 15.0
    grace: float = 30.0
    min_requeue: float = 1.0

    @property
    def margin(self) -> float:
        """Seconds past ``complete_by`` by which every job is terminal (no leader failover)."""
        return self.grace + self.interval


@dataclass
class SweepReport:
    """What one sweep saw and did (counts of jobs)."""

    open: int = 0
    held: int = 0
    waiting: int = 0
    suspect: int = 0
    requeued: list[str] = field(default_factory=list)
    ended: list[str] = field(default_factory=list)
    gone: int = 0


class Sweeper:
    """Parameters:
      lifecycle: ends jobs (with their webhook) and owns the store.
      policy: interval, grace, min_requeue.
      queue_of: task name -> its queue, for records that do not name one (None when unknown here).
      clock: unix time source.
    """

    def __init__(self, lifecycle: JobLifecycle, policy: SweepPolicy, queue_of=lambda task: None, clock=time.time):
        self.lifecycle = lifecycle
        self.store = lifecycle.store
        self.client = lifecycle.store.client
        self.policy = policy
        self.queue_of = queue_of
        self.clock = clock
        self.leadership = Leadership(self.client, LEADER_KEY, ttl=3 * policy.interval)
        self._suspects: dict[str, tuple[float, str]] = {}
        self._stop = threading.Event()

    def start(self) -> None:
        threading.Thread(target=self._loop, name="c3-sweeper", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()
        try:
            self.leadership.resign()
        except redis.RedisError:
            pass

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                if self.leadership.try_lead():
                    report = self.sweep_once()
                    if report.requeued or report.ended or report.gone:
                        log.warning("sweeper: %d open, requeued %d, ended %d, %d records gone", report.open,
                                    len(report.requeued), len(report.ended), report.gone)
                else:
                    self._suspects.clear()
            except redis.RedisError as exc:
                log.warning("sweeper: Redis unavailable: %s", exc)
            except Exception:
                log.exception("sweep failed")
            self._stop.wait(self.policy.interval)

    def sweep_once(self) -> SweepReport:
        """One pass over the open jobs."""
        now = self.clock()
        report = SweepReport()
        self.client.zremrangebyscore(HELD_JOBS, "-inf", now)
        open_jobs = [(m.decode(), score) for m, score in self.client.zrange(OPEN_JOBS, 0, -1, withscores=True)]
        report.open = len(open_jobs)
        held = {m.decode() for m in self.client.zrangebyscore(HELD_JOBS, now, "+inf")}
        on_time = {job_id for job_id, complete_by in open_jobs if job_id in held
                   and now <= complete_by + self.policy.grace}
        report.held = len(on_time)
        for job_id in on_time:
            self._suspects.pop(job_id, None)
        rest = [job_id for job_id, _ in open_jobs if job_id not in on_time]
        orphans: list[tuple[str, dict]] = []
        for job_id, record in zip(rest, self._records(rest)):
            if record is None or record["status"] in st.TERMINAL:
                self.client.zrem(OPEN_JOBS, job_id)
                report.gone += record is None
                continue
            if now > float(record["complete_by"]) + self.policy.grace:
                self._end(job_id, record, now, report, reason="late")
            else:
                orphans.append((job_id, record))
        waiting = self._waiting({record["queue"] for _, record in orphans if record["queue"]})
        for job_id, record in orphans:
            if record["message_id"] in waiting.get(record["queue"], ()):
                report.waiting += 1
                self._suspects.pop(job_id, None)
                continue
            self._orphan(job_id, record, now, report)
        for job_id in set(self._suspects) - {job_id for job_id, _ in open_jobs}:
            del self._suspects[job_id]
        return report

    def _records(self, job_ids: list[str]) -> list[dict | None]:
        with self.client.pipeline(transaction=False) as pipe:
            for job_id in job_ids:
                pipe.hmget(job_key(job_id), *_FIELDS)
            rows = pipe.execute() if job_ids else []
        records = []
        for row in rows:
            if row[0] is None:
                records.append(None)
                continue
            record = {name: (value.decode() if value else "") for name, value in zip(_FIELDS, row)}
            record["queue"] = record["queue"] or self.queue_of(record["type"]) or ""
            records.append(record)
        return records

    def _waiting(self, queues: set[str]) -> dict[str, set[str]]:
        """Message ids waiting in each of ``queues`` (one LRANGE per queue that has orphan candidates)."""
        with self.client.pipeline(transaction=False) as pipe:
            for queue in sorted(queues):
                pipe.lrange(queue_key(queue), 0, -1)
            lists = pipe.execute() if queues else []
        return {queue: {m.decode() for m in ids} for queue, ids in zip(sorted(queues), lists)}

    def _orphan(self, job_id: str, record: dict, now: float, report: SweepReport) -> None:
        first, message_id = self._suspects.get(job_id, (now, record["message_id"]))
        if message_id != record["message_id"]:
            first = now
        self._suspects[job_id] = (first, record["message_id"])
        report.suspect += 1
        if now - first < self.policy.grace:
            return
        if not record["queue"]:
            log.warning("sweeper: job %s of task %r names no queue; leaving it to its deadline", job_id,
                        record["type"])
            return
        if float(record["complete_by"]) - now < self.policy.min_requeue:
            self._end(job_id, record, now, report, reason="orphan")
            return
        was = "running" if record["status"] == st.RUNNING else "queued"
        note = f"requeued: no worker held this {was} job for {now - first:.0f} s (worker or message lost)"
        if self.store.requeue(job_id, run_job_message(record["queue"], job_id), when=(st.QUEUED, st.RUNNING),
                              expect_message_id=record["message_id"], sweep=True, now=now,
                              progress_message=note):
            log.warning("sweeper: job %s (%s) %s", job_id, record["type"], note)
            report.requeued.append(job_id)
        self._suspects.pop(job_id, None)

    def _end(self, job_id: str, record: dict, now: float, report: SweepReport, *, reason: str) -> None:
        late = now - float(record["complete_by"])
        started = record["status"] == st.RUNNING or bool(record["started_at"])
        if reason == "late" and started:
            status, error = st.TIMED_OUT, (f"the job did not finish by its complete_by deadline "
                                           f"(still open {late:.0f} s after it)")
        elif reason == "late":
            status, error = st.EXPIRED, (f"job expired: it was not started before its complete_by deadline "
                                         f"(passed {late:.0f} s ago)")
        elif started:
            status, error = st.TIMED_OUT, ("the worker running this job was lost and too little time remained "
                                           "before complete_by to run it again")
        else:
            status, error = st.EXPIRED, ("job expired: its queued message was lost and too little time remained "
                                         "before complete_by to queue it again")
        if self.lifecycle.finish(job_id, status, error=error):
            log.warning("sweeper: job %s ended %s: %s", job_id, status, error)
            report.ended.append(job_id)
        self._suspects.pop(job_id, None)
