"""Keeps the GPU leases of this worker process alive from one daemon thread."""

from __future__ import annotations

import logging
import threading
import time

from render_core.gpu.pool import GpuPool

log = logging.getLogger(__name__)


class LeaseKeeper:
    """Renews every lease this process holds every ``interval`` s, from one daemon thread."""

    def __init__(self, pool: GpuPool, interval: float):
        self.pool = pool
        self.interval = interval
        self.held: dict[str, str] = {}
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None

    def add(self, instance_id: str, holder: str) -> None:
        with self.lock:
            self.held[instance_id] = holder
            if self.thread is None:
                self.thread = threading.Thread(target=self._loop, name="c3-lease-keeper", daemon=True)
                self.thread.start()

    def remove(self, instance_id: str) -> None:
        with self.lock:
            self.held.pop(instance_id, None)

    def _loop(self) -> None:
        while True:
            time.sleep(self.interval)
            with self.lock:
                held = dict(self.held)
            for instance_id, holder in held.items():
                try:
                    self.pool.renew(instance_id, holder)
                except Exception as exc:
                    log.warning("renewing the lease on %s failed: %s", instance_id, exc)
