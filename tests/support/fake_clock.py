"""A clock for code that takes ``clock()`` and ``sleep(seconds)``: sleeping moves it, nothing waits."""

from __future__ import annotations

import threading
import time


class FakeClock:
    """Unix seconds starting at the real time of creation; ``sleep`` and ``advance`` move it forward.

    ``sleeps`` records every requested sleep (s), in order.
    """

    def __init__(self, start: float | None = None):
        self._now = time.time() if start is None else start
        self._lock = threading.Lock()
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self._now += seconds

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds
