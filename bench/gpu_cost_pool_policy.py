"""Policy A of the GPU cost simulation: worker threads leasing from ONE shared GpuPool.

Real Redis, the shipped GpuPool and Monitor, the real Comput3Provider against a
FakeComput3 whose clock runs ``speed`` times faster than real time. Both policies
are built from ``Settings`` exactly as ``render_core.worker.services`` builds them
(:func:`service_policies`). The pool gets the fake's clock and a scaled sleep, so
every PoolPolicy time is in simulated s. The Monitor waits between passes and
between health tries with real ``threading.Event.wait``/``time.sleep``, so ITS
``interval`` and ``retry_delay`` are divided by ``speed``; its other times (idle
timeouts, lifetime, grace) are compared with the pool's clock and stay in simulated s.
Workers pass the number of jobs still in the shared queue as ``acquire(queued=...)``,
as the service passes its broker queue length.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace

import redis

from render_core.gpu.monitor import Monitor, MonitorPolicy
from render_core.gpu.pool import GpuPool, LeaseUnavailable, PoolPolicy
from render_core.config.settings import Settings

from gpu_cost_sim import (CLOSED, WORKLOAD, JobFeed, PeakGauge, PolicyResult, SimTime, comput3_provider,
                          run_on_node, stop_leftovers, summarize)
from gpu_cost_trace import TraceJob

#: The bench's own log lines (the LogTally listens here and on render_core).
witness_log = logging.getLogger("gpu_cost.witness")


class LaunchWitness:
    """Wraps the provider; logs what the pool's Redis records show when a launch call starts.

    Observation only: every other attribute goes to the wrapped provider unchanged. Shows
    whether a launch was reserved while the pool already held ``max_instances`` records.
    """

    def __init__(self, provider, pool_records):
        self._provider = provider
        self._pool_records = pool_records

    def __getattr__(self, name):
        return getattr(self._provider, name)

    def launch(self, workload: str, **kwargs):
        records = self._pool_records(workload)
        shown = ", ".join(sorted(f"{r['id'][:15]}={r['state']}" for r in records))
        witness_log.info("launch call: the pool holds %d %s record(s): %s", len(records), workload, shown)
        return self._provider.launch(workload, **kwargs)


def service_policies(settings: Settings) -> tuple[PoolPolicy, MonitorPolicy]:
    """The pool and monitor policies the service builds from ``settings``."""
    return PoolPolicy.from_settings(settings), MonitorPolicy.from_settings(settings)


def run_pool_policy(name: str, fake, trace: list[TraceJob], client: redis.Redis, *, speed: float, workers: int,
                    pool_policy: PoolPolicy, monitor_policy: MonitorPolicy, deadline_slack: float) -> PolicyResult:
    """Play ``trace`` through ``workers`` threads sharing one pool; returns the figures.

    ``monitor_policy`` is in simulated s (scaled here); ``deadline_slack``: s from submit to
    the job's deadline (MAX_RENDER_TIME), passed to ``acquire``.
    """
    real_started, cpu_started = time.monotonic(), time.process_time()
    client.flushdb()
    sim = SimTime(fake, speed)
    provider = comput3_provider(fake, sim)
    pool = GpuPool(client, provider, pool_policy, clock=sim.now, sleep=sim.sleep)
    pool.provider = LaunchWitness(provider, pool.instances)
    monitor = Monitor(client, pool, replace(monitor_policy, interval=monitor_policy.interval / speed,
                                            retry_delay=monitor_policy.retry_delay / speed), workloads=[WORKLOAD])
    feed = JobFeed(sim, trace)
    peak = PeakGauge(sim, fake)
    monitor.start()
    peak.start()
    feed.start()
    threads = [threading.Thread(target=_worker, args=(index, feed, pool, sim, deadline_slack),
                                name=f"pool-worker-{index}", daemon=True) for index in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    drained = _wait_until_empty(pool, sim, monitor_policy.idle_timeout + 4 * monitor_policy.interval + 60)
    monitor.stop()
    time.sleep(3 * sim.real(monitor_policy.interval))  # let a pass in flight end
    leftovers_in_pool = len(pool.instances())
    for record in pool.instances():
        pool.stop(record["id"], reason="bench teardown")
    peak.stop()
    left = stop_leftovers(fake, provider)
    notes = {"pool emptied by the monitor": drained, "pool records stopped at teardown": leftovers_in_pool}
    return summarize(name, fake, feed, left, real_started, cpu_started, peak, notes)


def _worker(index: int, feed: JobFeed, pool: GpuPool, sim: SimTime, deadline_slack: float) -> None:
    """Take jobs in turn: lease, hold the node for the job's duration (renewing), release."""
    while (job := feed.take()) is not CLOSED:
        holder = f"bench-worker-{index}:{job.id}"
        deadline = feed.outcomes[job.id].submitted + deadline_slack
        try:
            instance_id, node = pool.acquire(WORKLOAD, holder, deadline=deadline, queued=feed.queued)
        except LeaseUnavailable as exc:
            feed.finish(job, error=f"lease: {exc}")
            continue
        feed.leased(job)
        error = run_on_node(sim, node, job, renew=lambda: pool.renew(instance_id, holder),
                            renew_every=pool.policy.lease_ttl / 3)
        pool.release(instance_id, holder, healthy=not error)
        feed.finish(job, error)


def _wait_until_empty(pool: GpuPool, sim: SimTime, limit: float) -> bool:
    """Wait (at most ``limit`` simulated s) until the monitor has stopped every instance."""
    give_up = sim.now() + limit
    while sim.now() < give_up:
        if not pool.instances():
            return True
        sim.sleep(5.0)
    return not pool.instances()
