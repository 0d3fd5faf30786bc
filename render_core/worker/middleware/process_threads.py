"""Starts the worker process's background threads once its workers are up, stops them at shutdown.

The heartbeat, and the GPU pool monitor when there is a pool. Nothing starts
on import: Dramatiq calls these hooks in each worker process.
"""

from __future__ import annotations

from dramatiq import Middleware

from render_core.obs import metrics

from ..heartbeat import Heartbeat


class ProcessThreads(Middleware):
    """Parameters:
      monitor: the pool monitor to run in this process, or None.
    """

    def __init__(self, monitor=None):
        self.monitor = monitor
        self.heartbeat = Heartbeat()

    def after_worker_boot(self, broker, worker):
        metrics.worker_threads.set(worker.worker_threads)
        self.heartbeat.start()
        if self.monitor is not None:
            self.monitor.start()

    def before_worker_shutdown(self, broker, worker):
        self.heartbeat.stop()
        if self.monitor is not None:
            self.monitor.stop()
