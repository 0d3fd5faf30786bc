"""Starts the worker process's background threads once its workers are up, stops them at shutdown.

The heartbeat, plus what the worker services hand over: the job holds, the
webhook pump, the sweeper and, when there is a pool, the GPU monitor. Each runs
in every worker process, whatever the GPU provider. Nothing starts on import:
Dramatiq calls these hooks in each worker process. A loop marked ``until_exit``
(the job holds) keeps running through the shutdown drain, while jobs still run,
and stops only once the worker has stopped.
"""

from __future__ import annotations

from dramatiq import Middleware

from render_core.obs import metrics

from ..heartbeat import Heartbeat


class ProcessThreads(Middleware):
    """Parameters:
      loops: objects with ``start()`` and ``stop()``; one with ``attach(worker)`` is given the Dramatiq worker.
    """

    def __init__(self, loops=()):
        self.loops = list(loops)
        self.heartbeat = Heartbeat()

    def after_worker_boot(self, broker, worker):
        metrics.worker_threads.set(worker.worker_threads)
        self.heartbeat.start()
        for loop in self.loops:
            if hasattr(loop, "attach"):
                loop.attach(worker)
            loop.start()

    def before_worker_shutdown(self, broker, worker):
        self.heartbeat.stop()
        for loop in self.loops:
            if not getattr(loop, "until_exit", False):
                loop.stop()

    def after_worker_shutdown(self, broker, worker):
        for loop in self.loops:
            if getattr(loop, "until_exit", False):
                loop.stop()
