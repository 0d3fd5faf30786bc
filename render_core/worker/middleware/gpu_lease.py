"""GPU-lease middleware: lease a node for the job before it runs, give it back after.

Tasks that declare a workload type get an instance from the shared pool (timed
as stage ``lease``); the rest, and every task when the provider is ``local``,
run on the worker's own machine. After the job the instance goes back to the
pool (healthy -> idle) or is stopped (the runner marked it unhealthy). If no
node can be had before the job's deadline, the job ends with a clear error.
When a task reports an error the node answered with, the runner asks this
middleware for a health check of the leased node (``current_node_healthy``).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time

from dramatiq import Middleware
from dramatiq.middleware import SkipMessage

from render_core.gpu.pool import GpuPool, LeaseUnavailable
from render_core.jobs import status as st
from render_core.obs import metrics
from render_core.sdk.node import Node

from ..lease_keeper import LeaseKeeper
from .deadline import time_limit_ms

log = logging.getLogger(__name__)


class GpuLease(Middleware):
    """Parameters:
      registry: task lookup (workload type per task).
      current_job: the :class:`render_core.worker.current_job.CurrentJob` of this worker.
      finish: ends a job (``finish(job_id, status, error=...)``).
      pool: the shared :class:`GpuPool`, or None when every task runs locally.
      queue_length: ``queue_length(queue_name)`` -> messages waiting (launch demand).
      max_render_time: the cap on any job's run time, in s (MAX_RENDER_TIME).
      health_tries, health_retry_delay: tries of a health check of the leased node, and
        seconds between them (HEALTH_TRIES, HEALTH_RETRY_DELAY).
    """

    actor_options = {"gpu_lease"}

    def __init__(self, registry=None, current_job=None, finish=None, pool: GpuPool | None = None,
                 queue_length=None, max_render_time: float = float("inf"), health_tries: int = 1,
                 health_retry_delay: float = 0.0):
        self.registry = registry
        self.current_job = current_job
        self.finish = finish
        self.pool = pool
        self.queue_length = queue_length
        self.max_render_time = max_render_time
        self.health_tries = health_tries
        self.health_retry_delay = health_retry_delay
        self.keeper = LeaseKeeper(pool, pool.policy.lease_ttl / 3) if pool else None
        self._local = threading.local()

    def current_node(self) -> Node:
        """The node leased for the job running in this thread (the local machine otherwise)."""
        return getattr(self._local, "node", None) or Node.local_machine()

    def current_node_healthy(self) -> bool:
        """Health-check the node leased for this thread now (the provider's check: for Comput3 the
        workload must still be listed and its node answer). True without a leased node."""
        lease = getattr(self._local, "lease", None)
        if lease is None or self.pool is None:
            return True
        instance_id, _ = lease
        healthy = self.pool.healthy(instance_id, tries=self.health_tries, retry_delay=self.health_retry_delay)
        if not healthy:
            log.warning("leased node %s failed its health check after an error it answered with", instance_id)
        return healthy

    def mark_unhealthy(self) -> None:
        """The job found the node broken: stop it instead of returning it to the pool."""
        self._local.healthy = False

    def before_process_message(self, broker, message):
        if not broker.get_actor(message.actor_name).options.get("gpu_lease"):
            return
        self._local.node, self._local.lease, self._local.healthy = None, None, True
        if self.pool is None:
            return
        job = self.current_job.get(message)
        task = self.registry.get(job.type) if job is not None else None
        if task is None or task.workload is None:
            return
        job_id = job.id
        holder = f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}:{job_id}"
        started = time.monotonic()
        try:
            instance_id, node = self.pool.acquire(
                task.workload, holder, deadline=job.complete_by,
                queued=lambda: self.queue_length(task.queue))
        except LeaseUnavailable as exc:
            timed_out = time.time() >= job.complete_by
            self.finish(job_id, st.TIMED_OUT if timed_out else st.FAILED, error=str(exc))
            raise SkipMessage(job_id) from exc
        finally:
            metrics.stage_seconds.labels(task.name, "lease").observe(time.monotonic() - started)
        self._local.node, self._local.lease = node, (instance_id, holder)
        self.keeper.add(instance_id, holder)
        message.options["time_limit"] = time_limit_ms(job, time.time(), self.max_render_time)

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
