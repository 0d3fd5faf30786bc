"""The worker heartbeat: a timestamp gauge refreshed from a daemon thread."""

from __future__ import annotations

import threading
import time

from render_core.obs import metrics

#: Seconds between heartbeat updates.
HEARTBEAT_INTERVAL = 5.0


class Heartbeat:
    """Publishes ``c3_render_worker_heartbeat_timestamp_seconds`` every ``interval`` s until stopped."""

    def __init__(self, interval: float = HEARTBEAT_INTERVAL):
        self.interval = interval
        self._stop = threading.Event()

    def start(self) -> None:
        threading.Thread(target=self._beat, name="c3-heartbeat", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def _beat(self) -> None:
        while not self._stop.is_set():
            metrics.worker_heartbeat.set(time.time())
            self._stop.wait(self.interval)
