"""The worker's composition root: everything a worker process needs, built once.

The job store (retrying through Redis blips), the broker with its middleware
stack, the GPU pool and lease (unless the provider is unlimited), the runner,
webhook delivery, the two actors and the background loops (job holds, webhook
pump, sweeper, GPU monitor). The API builds its own, smaller set (``render_api.services``).
"""

from __future__ import annotations

import logging
from functools import cached_property

import dramatiq
from dramatiq.middleware import CurrentMessage, Retries, TimeLimit

from render_core.config.settings import Settings
from render_core.dispatch.broker import NAMESPACE, build_broker
from render_core.dispatch.messages import DELIVER_WEBHOOK, RUN_JOB, WEBHOOK_QUEUE
from render_core.gpu.monitor import Monitor, MonitorPolicy
from render_core.gpu.pool import GpuPool, PoolPolicy
from render_core.jobs.lifecycle import JobLifecycle
from render_core.jobs.store import JobStore
from render_core.jobs.webhook_outbox import WebhookOutbox, claim_seconds
from render_core.jobs.webhook_schedule import WebhookSchedule
from render_core.net.http import AddressPolicy
from render_core.net.redis_retry import RedisRetry
from render_core.net.redis_client import connect
from render_core.net.storage import Storage
from render_core.sdk import image_decode
from render_core.sdk.registry import Registry

from .current_job import CurrentJob
from .job_holds import JobHolds
from .middleware import Deadline, GpuLease, GracefulShutdown, JobHold, StageMetrics
from .runner import Runner
from .sweeper import Sweeper, SweepPolicy
from .webhook_delivery import WebhookDelivery, WebhookPump

log = logging.getLogger(__name__)


class WorkerServices:
    """Parameters:
      settings: deployment settings.
      registry: loaded plugins (tasks and providers).
      client: a Redis client (default: one for ``settings.redis_url``).
    """

    def __init__(self, settings: Settings, registry: Registry, client=None):
        self.settings = settings
        self.registry = registry
        image_decode.configure(settings.decode_memory_mb * image_decode.MIB,
                               settings.decode_image_max_mb * image_decode.MIB)
        self.redis = client or connect(settings.redis_url)
        self.retry = RedisRetry(settings.state_write_retry)
        self.jobs = JobStore(self.redis, settings.job_ttl, retry=self.retry,
                             webhook_claim=claim_seconds(settings.webhook_timeout))
        self.outbox = WebhookOutbox(self.redis, retry=self.retry)
        self.webhook_schedule = WebhookSchedule.from_settings(settings)
        self.url_policy = AddressPolicy(allow_loopback=settings.allow_loopback_urls)
        self.current_job = CurrentJob(self.jobs)
        self.holds = JobHolds(self.redis, settings.job_hold_ttl)
        self.pool = self._build_pool()
        self.lease = GpuLease(registry, self.current_job, self._finish, self.pool,
                              queue_length=lambda queue: self.redis.llen(f"{NAMESPACE}:{queue}"),
                              max_render_time=settings.max_render_time, health_tries=settings.health_tries,
                              health_retry_delay=settings.health_retry_delay)
        self.shutdown = GracefulShutdown(settings.worker_shutdown_timeout, requeue=self._give_back)
        self.broker = build_broker(settings, self.redis, self._middleware())
        self.lifecycle = JobLifecycle(self.jobs, self.broker)
        self.runner = Runner(settings=settings, registry=registry, lifecycle=self.lifecycle, lease=self.lease,
                             storage=lambda: self.storage, url_policy=self.url_policy,
                             draining=self.shutdown.draining, stopping=self.shutdown.stopping)
        self.webhooks = WebhookDelivery(outbox=self.outbox, schedule=self.webhook_schedule,
                                        timeout=settings.webhook_timeout, url_policy=self.url_policy,
                                        secrets=settings.webhook_keys())
        self.run_job = dramatiq.actor(self._run_job, broker=self.broker, actor_name=RUN_JOB,
                                      queue_name="task.default", max_retries=0, job_hold=True, deadline=True,
                                      stage_metrics=True, gpu_lease=True, requeue_on_shutdown=True)
        self.deliver_webhook = dramatiq.actor(self.webhooks.deliver, broker=self.broker,
                                              actor_name=DELIVER_WEBHOOK, queue_name=WEBHOOK_QUEUE,
                                              max_retries=0)
        for task in registry.tasks.values():
            self.broker.declare_queue(task.queue)

    def _middleware(self) -> list:
        """The worker's middleware stack.

        The job middleware come after CurrentMessage and before TimeLimit, which
        reads the ``time_limit`` option that Deadline and GpuLease set.
        GracefulShutdown comes early so that it tracks a thread from the start of
        its message (a GPU lease wait included).
        """
        deadline = Deadline(self.current_job, self._finish, self.settings.max_render_time)
        return [CurrentMessage(), self.shutdown, JobHold(self.holds), deadline, StageMetrics(self.current_job),
                self.lease, TimeLimit(),
                Retries(max_retries=0)]

    def _finish(self, job_id: str, status: str, **fields) -> bool:
        return self.lifecycle.finish(job_id, status, **fields)

    def _give_back(self, message) -> None:
        """Requeue the job of a ``run_job`` message the shutdown interrupted outside the runner."""
        job = self.current_job.get(message)
        task = self.registry.get(job.type) if job is not None else None
        if task is not None and not job.terminal:
            self.lifecycle.return_to_queue(task, job.id, "the worker stopped before the job could run; "
                                                         "queued again for another worker")

    def _run_job(self, job_id: str) -> None:
        message = CurrentMessage.get_current_message()
        try:
            job = self.current_job.get(message) if message is not None else self.jobs.get(job_id)
            self.runner.run(job)
        finally:
            self.current_job.clear()

    def _build_pool(self) -> GpuPool | None:
        """The shared GPU pool, or None when the provider is unlimited (local)."""
        provider = self.registry.provider(self.settings.gpu_provider, self.settings)
        if provider.unlimited:
            return None
        return GpuPool(self.redis, provider, PoolPolicy.from_settings(self.settings))

    def background(self) -> list:
        """This process's background loops, started once its workers are up: the job holds, the
        webhook pump, the sweeper (it sweeps while this process leads) and the GPU monitor."""
        s = self.settings
        loops = [self.holds, WebhookPump(self.outbox, self.broker, self.webhook_schedule, s.webhook_timeout),
                 Sweeper(self.lifecycle, SweepPolicy(interval=s.sweep_interval, grace=s.job_hold_ttl),
                         queue_of=self._queue_of)]
        monitor = self.monitor()
        return loops + ([monitor] if monitor is not None else [])

    def _queue_of(self, task_name: str) -> str | None:
        task = self.registry.get(task_name)
        return task.queue if task is not None else None

    def monitor(self) -> Monitor | None:
        """The pool monitor for this process (started by workers), or None without a pool."""
        if self.pool is None:
            return None
        workloads = sorted({t.workload for t in self.registry.tasks.values() if t.workload})
        return Monitor(self.redis, self.pool, MonitorPolicy.from_settings(self.settings), workloads=workloads)

    @cached_property
    def storage(self) -> Storage:
        return Storage(self.settings)
