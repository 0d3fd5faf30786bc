"""GPU-lease middleware: lease a node for the job before it runs, give it back after.

Tasks that declare a workload type get an instance from the shared pool (timed
as stage ``lease``); the rest, and every task when the provider is ``local``,
run on the worker's own machine. After the job the instance goes back to the
pool (healthy -> idle) or is stopped (the runner marked it unhealthy). If no
node can be had before the job's deadline, the job ends with a clear error.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time

from dramatiq import Middleware
from dramatiq.middleware import SkipMessage

from .. import metrics
from .. import status as st
from ..broker import NAMESPACE
from ..context import Node
from ..gpu.pool import GpuPool, LeaseUnavailable
from .deadline import RUN_JOB, time_limit_ms
from .stage_metrics import task_of_queue

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


class GpuLease(Middleware):
    """Parameters:
      registry: task lookup (workload type per task).
      jobs: the job store; finish: ends a job (``finish(job_id, status, error=...)``).
      pool: the shared :class:`GpuPool`, or None when every task runs locally.
    """

    def __init__(self, registry=None, jobs=None, finish=None, pool: GpuPool | None = None):
        self.registry = registry
        self.jobs = jobs
        self.finish = finish
        self.pool = pool
        self.keeper = LeaseKeeper(pool, pool.policy.lease_ttl / 3) if pool else None
        self._local = threading.local()

    def current_node(self) -> Node:
        """The node leased for the job running in this thread (the local machine otherwise)."""
        return getattr(self._local, "node", None) or Node.local_machine()

    def mark_unhealthy(self) -> None:
        """The job found the node broken: stop it instead of returning it to the pool."""
        self._local.healthy = False

    def before_process_message(self, broker, message):
        if message.actor_name != RUN_JOB:
            return
        self._local.node, self._local.lease, self._local.healthy = None, None, True
        task = self.registry.get(task_of_queue(message.queue_name)) if self.registry else None
        if self.pool is None or task is None or task.workload is None:
            return
        job_id = message.args[0]
        job = self.jobs.get(job_id)
        if job is None:
            return
        holder = f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}:{job_id}"
        started = time.monotonic()
        try:
            instance_id, node = self.pool.acquire(
                task.workload, holder, deadline=job.complete_by,
                queued=lambda: self.jobs.client.llen(f"{NAMESPACE}:{task.queue}"))
        except LeaseUnavailable as exc:
            timed_out = time.time() >= job.complete_by
            self.finish(job_id, st.TIMED_OUT if timed_out else st.FAILED, error=str(exc))
            raise SkipMessage(job_id) from exc
        finally:
            metrics.stage_seconds.labels(task.name, "lease").observe(time.monotonic() - started)
        self._local.node, self._local.lease = node, (instance_id, holder)
        self.keeper.add(instance_id, holder)
        message.options["time_limit"] = time_limit_ms(job, time.time())

    def after_process_message(self, broker, message, *, result=None, exception=None):
        lease = getattr(self._local, "lease", None)
        if lease is not None:
            instance_id, holder = lease
            self.keeper.remove(instance_id)
            try:
                self.pool.release(instance_id, holder, healthy=getattr(self._local, "healthy", True))
            except Exception:
                log.exception("releasing %s failed; the monitor will reclaim it", instance_id)
        self._local.node, self._local.lease = None, None

    after_skip_message = after_process_message
