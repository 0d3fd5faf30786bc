"""``Prefer: wait=N``: requests that block until a job is terminal, at little cost each.

One subscriber thread per API process listens on the job store's "finished" channel (every
move to a terminal status publishes the job id in the same script that writes it). A waiting
request registers a ``threading.Event`` for its job, reads the job once, and sleeps on the
event; the subscriber sets the events of the ids it hears. No request polls Redis.

A lost notification cannot strand a waiter: the event is registered before the job is read,
and when the subscription breaks every waiter is woken to read its job again once the
subscriber is back. At most ``max_waits`` requests wait at once per process; past that a
request is answered at once (the preference is not applied), so waits never take every thread.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Callable

import redis

from render_core.jobs.store import FINISHED_CHANNEL, Job

log = logging.getLogger(__name__)

#: Longest wait a client may ask for (s).
MAX_WAIT = 60
#: Seconds between reconnection attempts of the subscriber.
RECONNECT_DELAY = 1.0
#: Seconds a first waiter gives the subscriber to confirm its subscription.
SUBSCRIBE_TIMEOUT = 2.0


class JobWaits:
    """Parameters:
      client: a Redis client (the subscriber opens its own connection from its pool).
      max_waits: concurrent waits this process holds; further requests are not held.
      channel: the pub/sub channel of finished job ids.
    """

    def __init__(self, client: redis.Redis, max_waits: int, channel: str = FINISHED_CHANNEL):
        self.client = client
        self.channel = channel
        self.slots = threading.BoundedSemaphore(max_waits) if max_waits > 0 else None
        self._lock = threading.Lock()
        self._waiters: dict[str, set[threading.Event]] = {}
        self._subscribed = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = 0

    def wait(self, job_id: str, load: Callable[[], Job | None], timeout: float) -> tuple[Job | None, bool]:
        """Block up to ``timeout`` s until the job ``load`` reads is terminal or gone.

        Returns (the job as last read, whether the wait was applied). Not applied when
        every wait slot is taken: the job is read once and returned at once.
        """
        if self.slots is None or not self.slots.acquire(blocking=False):
            return load(), False
        try:
            self._ensure_subscriber()
            event = threading.Event()
            self._register(job_id, event)
            try:
                deadline = time.monotonic() + timeout
                job = load()
                while job is not None and not job.terminal:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0 or not event.wait(remaining):
                        return load(), True  # the wait is over: answer the status as it is now
                    event.clear()
                    job = load()
                return job, True
            finally:
                self._unregister(job_id, event)
        finally:
            self.slots.release()

    @property
    def waiting(self) -> int:
        """Requests waiting now."""
        with self._lock:
            return sum(len(events) for events in self._waiters.values())

    def _register(self, job_id: str, event: threading.Event) -> None:
        with self._lock:
            self._waiters.setdefault(job_id, set()).add(event)

    def _unregister(self, job_id: str, event: threading.Event) -> None:
        with self._lock:
            events = self._waiters.get(job_id)
            if events is not None:
                events.discard(event)
                if not events:
                    del self._waiters[job_id]

    def _notify(self, job_id: str) -> None:
        with self._lock:
            events = list(self._waiters.get(job_id, ()))
        for event in events:
            event.set()

    def _wake_all(self) -> None:
        with self._lock:
            events = [event for events in self._waiters.values() for event in events]
        for event in events:
            event.set()

    def _ensure_subscriber(self) -> None:
        """Start the subscriber thread in this process (again after a fork), wait for its subscription."""
        if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
            with self._lock:
                if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
                    self._subscribed.clear()
                    self._pid = os.getpid()
                    self._thread = threading.Thread(target=self._listen, name="c3-render-waits", daemon=True)
                    self._thread.start()
        self._subscribed.wait(SUBSCRIBE_TIMEOUT)

    def _listen(self) -> None:
        while True:
            pubsub = self.client.pubsub()
            try:
                pubsub.subscribe(self.channel)
                while True:
                    message = pubsub.get_message(timeout=1.0)
                    if message and message.get("type") == "subscribe":  # Redis confirmed: we hear all from now
                        self._subscribed.set()
                        self._wake_all()  # anything finished while we were not listening is read again
                    elif message and message.get("type") == "message":
                        data = message["data"]
                        self._notify(data.decode() if isinstance(data, bytes) else str(data))
            # ValueError (TypeError with the hiredis parser): a socket closed under us
            except (redis.RedisError, OSError, ValueError, TypeError) as exc:
                log.warning("job notifications interrupted (%s); reconnecting in %.0f s", exc, RECONNECT_DELAY)
                self._subscribed.clear()
            finally:
                try:
                    pubsub.close()
                except (redis.RedisError, OSError):
                    pass
            time.sleep(RECONNECT_DELAY)


def parse_prefer_wait(header: str | None) -> int | None:
    """Seconds of ``wait=N`` in a ``Prefer`` header (RFC 7240), capped at :data:`MAX_WAIT`; else None."""
    if not header:
        return None
    for preference in header.split(","):
        name, _, value = preference.split(";")[0].strip().partition("=")
        if name.strip().lower() == "wait":
            value = value.strip().strip('"')
            if value.isdigit():
                return min(int(value), MAX_WAIT)
            return None
    return None
