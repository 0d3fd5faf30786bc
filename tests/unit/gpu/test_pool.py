"""GpuPool on a real throwaway Redis, driven by a fake clock: leasing, launching, waiting, giving back."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from render_core.gpu.pool import PREFIX, RESERVATION, GpuPool, LeaseUnavailable, PoolPolicy
from support.fake_clock import FakeClock
from support.scripted_provider import ScriptedProvider

WORKLOAD = "media:fast"


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def provider(clock):
    return ScriptedProvider(clock)


def make_pool(redis_client, provider, clock, **policy) -> GpuPool:
    options = dict(lease_ttl=30.0, pre_launch_wait=15.0, pre_launch_wait_max=30.0, max_instances=2,
                   ready_timeout=60.0, ready_poll=2.0, poll=0.25)
    options.update(policy)
    return GpuPool(redis_client, provider, PoolPolicy(**options), clock=clock, sleep=clock.sleep)


@pytest.fixture
def pool(redis_client, provider, clock):
    return make_pool(redis_client, provider, clock)


def offered_as_taken(provider) -> list[set[str]]:
    """Per launch call, the ids passed as ``taken`` (launch placeholders left out)."""
    return [{i for i in taken if not i.startswith(RESERVATION)} for _, _, taken in provider.launches]


def states(pool) -> dict[str, str]:
    return {record["id"]: record["state"] for record in pool.instances()}


def test_an_empty_pool_launches_and_leases_once_the_instance_answers(pool, provider, clock):
    provider.healthy_after = 2
    started = clock()
    instance_id, node = pool.acquire(WORKLOAD, "holder-a", deadline=clock() + 600)
    assert instance_id == "inst-1" and node.instance_id == "inst-1"
    assert states(pool) == {"inst-1": "busy"}
    record = pool.instance("inst-1")
    assert record["holder"] == "holder-a"
    assert float(record["lease_expiry"]) == pytest.approx(clock() + 30.0)
    assert provider.health_checks == ["inst-1"] * 3 and clock() - started == pytest.approx(4.0)
    (workload, expires_at, taken), = provider.launches
    assert workload == WORKLOAD and expires_at == pytest.approx(started + pool.policy.lifetime)


def test_a_released_healthy_instance_is_taken_again_without_a_launch(pool, provider, clock):
    first, _ = pool.acquire(WORKLOAD, "holder-a", deadline=clock() + 600)
    pool.release(first, "holder-a", healthy=True)
    assert states(pool) == {first: "idle"}
    second, _ = pool.acquire(WORKLOAD, "holder-b", deadline=clock() + 600)
    assert second == first and len(provider.launches) == 1
    assert pool.instance(first)["holder"] == "holder-b"


def test_release_by_someone_else_changes_nothing(pool, clock):
    instance_id, _ = pool.acquire(WORKLOAD, "holder-a", deadline=clock() + 600)
    pool.release(instance_id, "holder-b", healthy=True)
    assert states(pool) == {instance_id: "busy"}


def test_an_instance_given_back_broken_is_stopped_and_avoided_while_others_are_free(redis_client, clock):
    provider = ScriptedProvider(clock, nodes=["node-a", "node-b"])
    pool = make_pool(redis_client, provider, clock)
    broken, _ = pool.acquire(WORKLOAD, "holder-a", deadline=clock() + 600)
    pool.release(broken, "holder-a", healthy=False)
    assert provider.stops == ["node-a"] and pool.instances() == []
    assert pool.recently_failed() == {"node-a"}
    replacement, _ = pool.acquire(WORKLOAD, "holder-b", deadline=clock() + 600)
    assert replacement == "node-b"
    assert offered_as_taken(provider)[-1] == {"node-a"}  # offered as taken: the last choice


def test_a_broken_node_is_still_handed_out_when_no_other_is_free(redis_client, clock):
    provider = ScriptedProvider(clock, nodes=["node-a"])
    pool = make_pool(redis_client, provider, clock)
    broken, _ = pool.acquire(WORKLOAD, "holder-a", deadline=clock() + 600)
    pool.release(broken, "holder-a", healthy=False)
    again, _ = pool.acquire(WORKLOAD, "holder-b", deadline=clock() + 600)
    assert again == "node-a"
    assert offered_as_taken(provider) == [set(), {"node-a"}, set()]


def test_a_busy_instance_is_waited_for_before_launching_another(pool, provider, clock):
    pool.acquire(WORKLOAD, "holder-a", deadline=clock() + 600)
    started = clock()
    second, _ = pool.acquire(WORKLOAD, "holder-b", deadline=clock() + 600)  # 600 s: less than patient_slack
    assert second == "inst-2" and len(provider.launches) == 2
    assert clock() - started >= pool.policy.pre_launch_wait


def test_a_job_with_time_to_spare_waits_longer_for_a_busy_instance(pool, provider, clock):
    pool.acquire(WORKLOAD, "holder-a", deadline=clock() + 600)
    started = clock()
    pool.acquire(WORKLOAD, "holder-b", deadline=clock() + 3600)
    waited = clock() - started
    assert pool.policy.pre_launch_wait_max <= waited < pool.policy.pre_launch_wait_max + 10


def test_a_full_pool_ends_in_lease_unavailable_at_the_deadline(redis_client, provider, clock):
    pool = make_pool(redis_client, provider, clock, max_instances=1)
    pool.acquire(WORKLOAD, "holder-a", deadline=clock() + 600)
    deadline = clock() + 20
    with pytest.raises(LeaseUnavailable, match="before the job's deadline"):
        pool.acquire(WORKLOAD, "holder-b", deadline=deadline)
    assert clock() >= deadline and len(provider.launches) == 1
    assert redis_client.zcard(f"{PREFIX}waiters:{WORKLOAD}") == 0, "the waiter entry must be removed"


def test_a_failed_launch_frees_its_slot(pool, provider, clock):
    provider.launch_error = "no capacity"
    with pytest.raises(LeaseUnavailable, match="could not launch a media:fast GPU node: no capacity"):
        pool.acquire(WORKLOAD, "holder-a", deadline=clock() + 600)
    assert pool.instances() == []
    provider.launch_error = None
    assert pool.acquire(WORKLOAD, "holder-a", deadline=clock() + 600)[0] == "inst-2"


def test_an_instance_that_never_answers_is_stopped(redis_client, provider, clock):
    pool = make_pool(redis_client, provider, clock, ready_timeout=10.0)
    provider.broken.add("inst-1")
    with pytest.raises(LeaseUnavailable, match="never answered its health check within 10 s"):
        pool.acquire(WORKLOAD, "holder-a", deadline=clock() + 600)
    assert provider.stops == ["inst-1"] and pool.instances() == []


def test_an_instance_stopped_while_it_starts_is_not_leased(pool, provider, clock):
    provider.broken.add("inst-1")
    real_sleep = clock.sleep

    def sleep_and_stop(seconds):  # someone (reconcile, teardown) stops it during the ready wait
        real_sleep(seconds)
        pool.stop("inst-1", reason="test")

    pool.sleep = sleep_and_stop
    with pytest.raises(LeaseUnavailable):
        pool.acquire(WORKLOAD, "holder-a", deadline=clock() + 600)
    assert provider.health_checks == ["inst-1"]


def test_renew_extends_only_the_holders_lease(pool, clock):
    instance_id, _ = pool.acquire(WORKLOAD, "holder-a", deadline=clock() + 600)
    clock.advance(20)
    assert pool.renew(instance_id, "holder-a")
    assert float(pool.instance(instance_id)["lease_expiry"]) == pytest.approx(clock() + 30.0)
    assert not pool.renew(instance_id, "holder-b")
    assert not pool.renew("inst-unknown", "holder-a")


def test_reclaim_takes_a_lease_back(pool, clock):
    instance_id, _ = pool.acquire(WORKLOAD, "holder-a", deadline=clock() + 600)
    clock.advance(100)
    assert pool.reclaim(instance_id)
    record = pool.instance(instance_id)
    assert (record["state"], record["holder"], record["lease_expiry"]) == ("idle", "", "")
    assert float(record["idle_since"]) == pytest.approx(clock())
    assert not pool.reclaim(instance_id), "an idle instance has no lease to reclaim"


def test_drop_reservation_forgets_a_launch_placeholder_only(pool, redis_client, clock):
    reservation = f"{RESERVATION}abc"
    redis_client.hset(f"{PREFIX}inst:{reservation}", mapping={"id": reservation, "workload": WORKLOAD,
                                                              "state": "launching", "launched_at": clock()})
    redis_client.sadd(f"{PREFIX}type:{WORKLOAD}", reservation)
    assert states(pool) == {reservation: "launching"}
    pool.drop_reservation(reservation, WORKLOAD)
    assert pool.instances() == []
    instance_id, _ = pool.acquire(WORKLOAD, "holder-a", deadline=clock() + 600)
    with pytest.raises(ValueError, match="not a launch reservation"):
        pool.drop_reservation(instance_id, WORKLOAD)
    assert states(pool) == {instance_id: "busy"}


def billed_seconds() -> float:
    return REGISTRY.get_sample_value("c3_render_gpu_billed_seconds_total", {"workload": WORKLOAD}) or 0.0


def test_stop_accounts_billed_seconds_and_forgets_the_instance(pool, provider, clock):
    instance_id, _ = pool.acquire(WORKLOAD, "holder-a", deadline=clock() + 600)
    billed = billed_seconds()
    clock.advance(90)
    pool.stop(instance_id, reason="test")
    assert billed_seconds() - billed == pytest.approx(90, abs=1)
    assert provider.stops == [instance_id] and pool.instances() == []
