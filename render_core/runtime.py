"""The runtime: settings, Redis, job store, registry, broker and actors wired together.

The API builds one to submit and change jobs; a worker process builds one
and hands its broker to Dramatiq (see :mod:`render_core.worker`).
"""

from __future__ import annotations

import logging
from functools import cached_property

import dramatiq
import redis

from . import metrics, webhooks
from .broker import WEBHOOK_QUEUE, build_broker, enqueue_in_pipeline
from .http import AddressPolicy
from .gpu.monitor import Monitor, MonitorPolicy
from .gpu.pool import GpuPool, PoolPolicy
from .jobs import JobStore
from .middleware import Deadline, GpuLease, StageMetrics
from .registry import Registry
from .settings import Settings
from .storage import Storage
from .task import Task

log = logging.getLogger(__name__)

#: Redis socket timeouts in seconds: a hung Redis turns into an error, not a hung request.
REDIS_SOCKET_TIMEOUT = 10.0
REDIS_CONNECT_TIMEOUT = 5.0


def redis_client(settings: Settings) -> redis.Redis:
    return redis.Redis.from_url(settings.redis_url, socket_timeout=REDIS_SOCKET_TIMEOUT,
                                socket_connect_timeout=REDIS_CONNECT_TIMEOUT, health_check_interval=30)


class Runtime:
    """Everything a job needs, built once per process."""

    def __init__(self, settings: Settings, registry: Registry, client: redis.Redis | None = None):
        from .runner import run_job
        from .webhook_actor import deliver_webhook

        self.settings = settings
        self.registry = registry
        self.redis = client or redis_client(settings)
        self.jobs = JobStore(self.redis, settings.job_ttl)
        self.url_policy = AddressPolicy(allow_loopback=settings.allow_loopback_urls)
        self.pool = self._build_pool()
        self.lease = GpuLease(registry, self.jobs, self.finish, self.pool)
        self.broker = build_broker(settings, self.redis,
                                   [Deadline(self.jobs, self.finish), StageMetrics(), self.lease])
        self.run_job = dramatiq.actor(lambda job_id: run_job(self, job_id), broker=self.broker,
                                      actor_name="run_job", queue_name="task.default", max_retries=0)
        self.deliver_webhook = dramatiq.actor(
            lambda job_id, url, body: deliver_webhook(self, job_id, url, body), broker=self.broker,
            actor_name="deliver_webhook", queue_name=WEBHOOK_QUEUE, max_retries=settings.webhook_attempts - 1)
        for task in registry.tasks.values():
            self.broker.declare_queue(task.queue)

    def _build_pool(self) -> GpuPool | None:
        """The shared GPU pool, or None when the provider is unlimited (local)."""
        provider = self.registry.provider(self.settings.gpu_provider, self.settings)
        if getattr(provider, "unlimited", False):
            return None
        s = self.settings
        policy = PoolPolicy(lease_ttl=s.lease_ttl, pre_launch_wait=s.pre_launch_timeout,
                            pre_launch_wait_max=s.pre_launch_timeout_max, max_instances=s.gpu_max_instances,
                            backlog_per_launch=s.gpu_launch_backlog,
                            lifetime=s.gpu_max_lifetime, ready_timeout=s.gpu_ready_timeout,
                            ready_poll=s.health_retry_delay)
        return GpuPool(self.redis, provider, policy)

    def monitor(self) -> Monitor | None:
        """The pool monitor for this process (started by workers), or None without a pool."""
        if self.pool is None:
            return None
        s = self.settings
        policy = MonitorPolicy(interval=s.monitor_interval, idle_timeout=s.gpu_idle_timeout,
                               lifetime=s.gpu_max_lifetime, refresh_margin=s.gpu_refresh_margin,
                               tries=s.health_tries, retry_delay=s.health_retry_delay,
                               warm_instances=s.gpu_warm_instances, surplus_idle_timeout=s.gpu_surplus_idle_timeout)
        workloads = sorted({t.workload for t in self.registry.tasks.values() if t.workload})
        return Monitor(self.redis, self.pool, policy, workloads=workloads)

    @cached_property
    def storage(self) -> Storage:
        return Storage(self.settings)

    def run_message(self, task: Task, job_id: str):
        """The ``run_job`` message for ``job_id`` on the task's own queue."""
        return self.run_job.message(job_id).copy(queue_name=task.queue)

    def requeue(self, task: Task, job_id: str) -> None:
        """Send ``run_job`` for an existing job again (a retry on a fresh node)."""
        self.broker.enqueue(self.run_message(task, job_id))

    def submit(self, task: Task, params: dict) -> dict:
        """Store a queued job and its ``run_job`` message in one MULTI/EXEC; returns the record."""
        record = self.jobs.new_record(task.name, params)
        message = self.run_message(task, record["id"])
        with self.redis.pipeline(transaction=True) as pipe:
            self.jobs.create(record, pipe)
            enqueue_in_pipeline(self.broker, pipe, message)
            pipe.execute()
        metrics.jobs_submitted.labels(task.name).inc()
        return record

    def finish(self, job_id: str, status: str, **fields) -> bool:
        """Move a job to a terminal ``status``; on success count it and send its webhook."""
        applied, _ = self.jobs.transition(job_id, status, **fields)
        if not applied:
            return False
        job = self.jobs.get(job_id)
        if job is None:
            return True
        metrics.jobs_finished.labels(job.type, status).inc()
        if job.notify_url:
            self.deliver_webhook.send(job.id, job.notify_url, webhooks.payload(job))
        return True
