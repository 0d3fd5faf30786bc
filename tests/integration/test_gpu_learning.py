"""The pool learns from demand (real Redis, an in-process provider, a clock the test moves).

Idle limits follow the observed gaps between jobs and never pass GPU_IDLE_TIMEOUT; a job
whose deadline allows it waits for a busy node that frees before a launch would be ready.
"""

from __future__ import annotations

import itertools

import pytest
import redis

from render_core.gpu.monitor import Monitor, MonitorPolicy
from render_core.gpu.pool import GpuPool, PoolPolicy
from render_core.gpu.providers.base import Instance
from render_core.sdk.node import Node

WORKLOAD = "media:fast"


class Clock:
    """Unix seconds that move only when the pool sleeps or the test says; runs alarms on the way."""

    def __init__(self):
        self.now = 1_000_000.0
        self.alarms: list = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        for alarm in [a for a in self.alarms if a[0] <= self.now]:
            self.alarms.remove(alarm)
            alarm[1]()


class StubProvider:
    """A launch takes 60 s of the test clock; always healthy; remembers launches and stops."""

    name, unlimited = "stub", False

    def __init__(self, clock):
        self.clock = clock
        self.running: dict[str, Instance] = {}
        self.launches = 0
        self.ids = itertools.count(1)

    def launch(self, workload, *, expires_at, taken=()):
        self.launches += 1
        self.clock.now += 60.0
        instance_id = f"node-{next(self.ids)}"
        instance = Instance(id=instance_id, workload=workload, node=Node(base_url=f"http://{instance_id}"),
                            launched_at=self.clock(), expires_at=expires_at)
        self.running[instance_id] = instance
        return instance

    def stop(self, instance_id):
        self.running.pop(instance_id, None)

    def list_running(self):
        return list(self.running.values())

    def health(self, instance):
        return instance.id in self.running

    def authorize(self, node):
        return node


@pytest.fixture
def setup(redis_server):
    client = redis.Redis.from_url(redis_server.url)
    client.flushdb()
    clock = Clock()
    provider = StubProvider(clock)

    def build(*, adaptive=True, idle_timeout=300.0, pre_launch_wait=0.0):
        pool = GpuPool(client, provider, PoolPolicy(adaptive=adaptive, pre_launch_wait=pre_launch_wait,
                                                    pre_launch_wait_max=pre_launch_wait, max_instances=4,
                                                    launch_estimate=60.0, ready_poll=0.1),
                       clock=clock, sleep=clock.sleep)
        monitor = Monitor(client, pool, MonitorPolicy(interval=15.0, idle_timeout=idle_timeout, tries=1,
                                                      retry_delay=0, adaptive=adaptive), workloads=[WORKLOAD])
        return pool, monitor

    yield clock, provider, build
    client.flushdb()
    client.close()


def _job(pool, clock, holder, hold: float, gap_after: float) -> str:
    instance_id, _ = pool.acquire(WORKLOAD, holder, deadline=clock() + 3600)
    clock.now += hold
    pool.release(instance_id, holder, healthy=True)
    clock.now += gap_after
    return instance_id


def test_gaps_longer_than_a_relaunch_stop_the_idle_node_early(setup):
    clock, provider, build = setup
    pool, monitor = build()
    for n in range(10):  # a job every ~10 min: keeping a node idle between them does not pay
        _job(pool, clock, f"job-{n}", hold=30, gap_after=600)
    assert len(pool.demand.series(WORKLOAD, "gaps")) == 9
    limit = monitor.idle_limit(WORKLOAD)
    assert limit == 15.0  # the monitor interval: stop at the first pass
    _job(pool, clock, "last", hold=30, gap_after=0)
    clock.now += 20
    monitor.run_once(reconcile=False)
    assert pool.instances(WORKLOAD) == [] and provider.running == {}


def test_short_gaps_keep_the_node_but_never_past_gpu_idle_timeout(setup):
    clock, provider, build = setup
    pool, monitor = build(idle_timeout=100.0)
    for n in range(10):  # a job every ~40 s: keep the node through the gaps
        _job(pool, clock, f"job-{n}", hold=30, gap_after=40)
    assert provider.launches == 1
    assert monitor.idle_limit(WORKLOAD) == pytest.approx(40.0)
    for n in range(10):  # gaps of 90 s: cheaper to wait through than to relaunch, but near the ceiling
        _job(pool, clock, f"late-{n}", hold=30, gap_after=90)
    assert monitor.idle_limit(WORKLOAD) <= 100.0
    clock.now += 101
    monitor.run_once(reconcile=False)
    assert pool.instances(WORKLOAD) == []


def test_the_fixed_policy_keeps_exactly_gpu_idle_timeout(setup):
    clock, provider, build = setup
    pool, monitor = build(adaptive=False, idle_timeout=300.0)
    for n in range(10):  # gaps that the adaptive policy would not wait through
        _job(pool, clock, f"job-{n}", hold=30, gap_after=200)
    _job(pool, clock, "last", hold=30, gap_after=0)
    assert monitor.idle_limit(WORKLOAD) == 300.0
    clock.now += 290
    monitor.run_once(reconcile=False)
    assert len(pool.instances(WORKLOAD)) == 1
    clock.now += 20
    monitor.run_once(reconcile=False)
    assert pool.instances(WORKLOAD) == []


def _waits_or_launches(setup, *, adaptive: bool, deadline_in: float) -> int:
    clock, provider, build = setup
    pool, _ = build(adaptive=adaptive)
    for n in range(6):  # history: jobs hold a node for 40 s
        _job(pool, clock, f"job-{n}", hold=40, gap_after=1)
    busy_id, _ = pool.acquire(WORKLOAD, "busy-job", deadline=clock() + 3600)
    clock.now += 25  # expected to free in ~15 s, sooner than a 60 s launch
    launches = provider.launches
    clock.alarms.append((clock() + 12, lambda: pool.release(busy_id, "busy-job", healthy=True)))
    pool.acquire(WORKLOAD, "waiter", deadline=clock() + deadline_in)
    return provider.launches - launches


def test_a_job_with_slack_waits_for_a_node_that_frees_soon(setup):
    assert _waits_or_launches(setup, adaptive=True, deadline_in=3600) == 0


def test_a_job_without_slack_or_learning_launches(setup):
    assert _waits_or_launches(setup, adaptive=True, deadline_in=20) == 1


def test_without_learning_the_pre_launch_wait_decides(setup):
    assert _waits_or_launches(setup, adaptive=False, deadline_in=3600) == 1


def test_a_job_launches_at_once_when_no_busy_node_frees_before_a_launch(setup):
    clock, provider, build = setup
    pool, _ = build(adaptive=True, pre_launch_wait=30.0)
    for n in range(6):  # history: jobs hold a node for 300 s
        _job(pool, clock, f"job-{n}", hold=300, gap_after=1)
    pool.acquire(WORKLOAD, "busy-job", deadline=clock() + 3600)
    clock.now += 10
    launches, asked_at = provider.launches, clock()
    pool.acquire(WORKLOAD, "newcomer", deadline=clock() + 3600)
    assert provider.launches == launches + 1
    assert clock() - asked_at < 60.0 + 5.0  # the launch itself, not the 30 s pre-launch wait first
