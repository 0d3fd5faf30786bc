"""Retrying Redis calls through a blip: connection errors are retried with backoff for a bounded time.

Workers change job state through a :class:`RedisRetry` so a Redis restart or a
failover (seconds) delays a write instead of abandoning the job half-way. The
API does not retry: a client gets 503 at once and may submit again.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from typing import Callable, TypeVar

import redis

log = logging.getLogger(__name__)

#: Errors worth retrying: the connection dropped, timed out, or Redis is still loading its data.
RETRYABLE = (redis.ConnectionError, redis.TimeoutError)

T = TypeVar("T")


@dataclass(frozen=True)
class RedisRetry:
    """Retry a call on :data:`RETRYABLE` errors for up to ``budget`` seconds.

    Delays start at ``first_delay`` s and double up to ``max_delay`` s, with
    jitter; the last error is raised once the budget is spent. ``budget=0``
    calls once.
    """

    budget: float
    first_delay: float = 0.1
    max_delay: float = 2.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic

    def call(self, fn: Callable[..., T], *args, **kwargs) -> T:
        give_up_at = self.clock() + self.budget
        delay = self.first_delay
        attempt = 1
        while True:
            try:
                return fn(*args, **kwargs)
            except RETRYABLE as exc:
                left = give_up_at - self.clock()
                if left <= 0:
                    raise
                pause = min(delay * random.uniform(0.5, 1.0), left)
                if attempt == 1:
                    log.warning("Redis unavailable (%s); retrying for up to %.0f s", exc, self.budget)
                self.sleep(pause)
                delay = min(delay * 2, self.max_delay)
                attempt += 1


#: Call once, no retry.
NO_RETRY = RedisRetry(0.0)
