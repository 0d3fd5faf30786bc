"""The jobs this worker process holds, published to Redis so the sweeper leaves them alone.

A job is held while a thread runs it and while its message waits in this
process's work queue (prefetched). Holds are written to the ``held jobs``
sorted set with an expiry ``ttl`` seconds ahead, renewed every ``ttl / 3``
seconds from a daemon thread, and at once when a thread starts a job. A process
that dies stops renewing: its holds lapse within ``ttl`` seconds. The set is
rewritten from memory on every beat, so a hold lost with a Redis restart comes
back within one beat.
"""

from __future__ import annotations

import logging
import threading
import time

import redis

from render_core.dispatch.messages import RUN_JOB
from render_core.jobs.keys import HELD_JOBS

log = logging.getLogger(__name__)


class JobHolds:
    """Parameters:
      client: the Redis client.
      ttl: seconds a hold lasts without renewal.
      clock: unix time source.
    """

    #: Keep renewing through a worker's shutdown drain (its jobs still run), until the worker stopped.
    until_exit = True

    def __init__(self, client: redis.Redis, ttl: float, clock=time.time):
        self.client = client
        self.ttl = ttl
        self.interval = ttl / 3
        self.clock = clock
        self._running: dict[int, str] = {}
        self._lock = threading.Lock()
        self._worker = None
        self._stop = threading.Event()

    def attach(self, worker) -> None:
        """Also count the run_job messages waiting in ``worker``'s work queue (a Dramatiq Worker)."""
        self._worker = worker

    def begin(self, job_id: str) -> None:
        """This thread starts ``job_id``: hold it now."""
        with self._lock:
            self._running[threading.get_ident()] = job_id
        try:
            self.publish([job_id])
        except redis.RedisError as exc:  # the next beat publishes it again
            log.debug("could not publish the hold on %s: %s", job_id, exc)

    def end(self) -> None:
        """This thread is done with its job (the hold lapses by itself)."""
        with self._lock:
            self._running.pop(threading.get_ident(), None)

    def held(self) -> set[str]:
        """Ids of the jobs this process runs or has waiting in its work queue."""
        with self._lock:
            held = set(self._running.values())
        return held | self._waiting()

    def _waiting(self) -> set[str]:
        queue = getattr(self._worker, "work_queue", None)
        if queue is None:
            return set()
        with queue.mutex:
            items = list(queue.queue)
        waiting = set()
        for item in items:
            message = getattr(item, "message", None)
            if message is not None and message.actor_name == RUN_JOB and message.args:
                waiting.add(message.args[0])
        return waiting

    def publish(self, job_ids) -> None:
        """Hold ``job_ids`` for ``ttl`` seconds from now."""
        job_ids = list(job_ids)
        if job_ids:
            until = self.clock() + self.ttl
            self.client.zadd(HELD_JOBS, {job_id: until for job_id in job_ids})

    def start(self) -> None:
        threading.Thread(target=self._loop, name="c3-job-holds", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.publish(self.held())
            except redis.RedisError as exc:
                log.warning("job holds: Redis unavailable: %s", exc)
            except Exception:
                log.exception("publishing job holds failed")
            self._stop.wait(self.interval)
