"""One monitor pass (Monitor.run_once) over a pool on a real throwaway Redis, with a fake clock."""

from __future__ import annotations

import pytest

from render_core.gpu.monitor import Monitor, MonitorPolicy
from render_core.gpu.pool import PREFIX, RESERVATION, GpuPool, PoolPolicy
from support.fake_clock import FakeClock
from support.scripted_provider import ScriptedProvider

WORKLOAD = "media:fast"


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def provider(clock):
    return ScriptedProvider(clock)


@pytest.fixture
def pool(redis_client, provider, clock):
    return GpuPool(redis_client, provider, PoolPolicy(lease_ttl=30.0, ready_poll=1.0), clock=clock, sleep=clock.sleep)


@pytest.fixture
def monitor(redis_client, pool, clock):
    policy = MonitorPolicy(idle_timeout=300.0, surplus_idle_timeout=60.0, tries=3, retry_delay=2.0,
                           launch_stale_after=900.0, young_grace=120.0, lifetime=7200.0, refresh_margin=600.0)
    return Monitor(redis_client, pool, policy, workloads=[WORKLOAD], sleep=clock.sleep)


def leased(pool, clock, holder="holder-a") -> str:
    return pool.acquire(WORKLOAD, holder, deadline=clock() + 600)[0]


def idle(pool, clock) -> str:
    instance_id = leased(pool, clock)
    pool.release(instance_id, "holder-a", healthy=True)
    return instance_id


def states(pool) -> dict[str, str]:
    return {record["id"]: record["state"] for record in pool.instances()}


def test_a_lease_nobody_renews_is_reclaimed(pool, monitor, clock):
    instance_id = leased(pool, clock)
    clock.advance(31)
    monitor.run_once(reconcile=False)
    assert states(pool) == {instance_id: "idle"} and pool.instance(instance_id)["holder"] == ""


def test_a_renewed_lease_is_kept(pool, monitor, clock):
    instance_id = leased(pool, clock)
    clock.advance(20)
    pool.renew(instance_id, "holder-a")
    clock.advance(20)
    monitor.run_once(reconcile=False)
    assert states(pool) == {instance_id: "busy"}


def test_an_idle_instance_failing_its_health_tries_is_stopped(pool, monitor, provider, clock):
    instance_id = idle(pool, clock)
    provider.broken.add(instance_id)
    checks_before = len(provider.health_checks)
    monitor.run_once(reconcile=False)
    assert len(provider.health_checks) - checks_before == 3
    assert provider.stops == [instance_id] and pool.instances() == []


def test_a_busy_instance_failing_its_health_is_drained_not_stopped(pool, monitor, provider, clock):
    instance_id = leased(pool, clock)
    provider.health_raises.add(instance_id)
    monitor.run_once(reconcile=False)
    assert states(pool) == {instance_id: "draining"} and provider.stops == []
    pool.release(instance_id, "holder-a", healthy=True)  # the job ends: a draining instance is stopped
    assert provider.stops == [instance_id]


def test_the_warm_instance_stays_and_surplus_idle_ones_stop(pool, monitor, provider, clock):
    first = leased(pool, clock, "holder-a")
    second = pool.acquire(WORKLOAD, "holder-b", deadline=clock() + 600)[0]
    pool.release(first, "holder-a", healthy=True)
    clock.advance(1)
    pool.release(second, "holder-b", healthy=True)  # the most recently used: the warm one
    clock.advance(61)
    monitor.run_once(reconcile=False)
    assert states(pool) == {second: "idle"} and provider.stops == [first]
    clock.advance(240)
    monitor.run_once(reconcile=False)
    assert pool.instances() == [] and provider.stops == [first, second]


def test_an_instance_near_its_lifetime_is_replaced(pool, monitor, provider, clock):
    instance_id = idle(pool, clock)
    clock.advance(7200 - 600 - 1)
    pool.client.hset(f"{PREFIX}inst:{instance_id}", "idle_since", clock())
    monitor.run_once(reconcile=False)
    assert states(pool) == {instance_id: "idle"}
    clock.advance(2)
    pool.client.hset(f"{PREFIX}inst:{instance_id}", "idle_since", clock())
    monitor.run_once(reconcile=False)
    assert pool.instances() == [] and provider.stops == [instance_id]


def test_a_stale_launch_placeholder_is_dropped(pool, monitor, redis_client, clock):
    reservation = f"{RESERVATION}stale"
    redis_client.hset(f"{PREFIX}inst:{reservation}", mapping={"id": reservation, "workload": WORKLOAD,
                                                              "state": "launching", "launched_at": clock()})
    redis_client.sadd(f"{PREFIX}type:{WORKLOAD}", reservation)
    monitor.run_once(reconcile=False)
    assert states(pool) == {reservation: "launching"}
    clock.advance(901)
    monitor.run_once(reconcile=False)
    assert pool.instances() == []


def test_reconcile_adopts_an_untracked_instance_and_forgets_a_vanished_one(pool, monitor, provider, clock):
    tracked = idle(pool, clock)
    untracked = provider.make_instance("inst-untracked", WORKLOAD)
    provider.running[untracked.id] = untracked
    del provider.running[tracked]  # gone at the provider
    clock.advance(121)  # both older than the young grace
    pool.client.hset(f"{PREFIX}inst:{tracked}", "idle_since", clock())
    monitor.reconcile()
    assert states(pool) == {untracked.id: "idle"}


def test_reconcile_never_adopts_nodes_that_always_run(redis_client, clock):
    provider = ScriptedProvider(clock, always_running=True)
    pool = GpuPool(redis_client, provider, PoolPolicy(), clock=clock, sleep=clock.sleep)
    monitor = Monitor(redis_client, pool, MonitorPolicy(), sleep=clock.sleep)
    node = provider.make_instance("http://gpu-1", WORKLOAD)
    provider.running[node.id] = node
    clock.advance(1000)
    monitor.reconcile()
    assert pool.instances() == []


def test_only_one_monitor_leads(redis_client, pool, clock):
    first = Monitor(redis_client, pool, MonitorPolicy(interval=15.0))
    second = Monitor(redis_client, pool, MonitorPolicy(interval=15.0))
    assert first.try_lead() and not second.try_lead()
    assert first.try_lead(), "the leader keeps leading"
    first.stop()
    assert second.try_lead()
