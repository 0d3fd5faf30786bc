"""The one health-retry loop (render_core.gpu.health) that the pool and the monitor share."""

from __future__ import annotations

import pytest

from render_core.gpu.health import wait_healthy
from support.fake_clock import FakeClock
from support.scripted_provider import ScriptedProvider


@pytest.fixture
def clock():
    return FakeClock()


def instance(provider, instance_id="inst-1"):
    return provider.make_instance(instance_id, "media:fast")


def test_answers_at_once_without_waiting(clock):
    provider = ScriptedProvider(clock)
    assert wait_healthy(provider, instance(provider), delay=2.0, sleep=clock.sleep, tries=3)
    assert provider.health_checks == ["inst-1"] and clock.sleeps == []


def test_tries_bound_the_checks_and_no_wait_follows_the_last(clock):
    provider = ScriptedProvider(clock)
    provider.broken.add("inst-1")
    assert not wait_healthy(provider, instance(provider), delay=2.0, sleep=clock.sleep, tries=3)
    assert len(provider.health_checks) == 3 and clock.sleeps == [2.0, 2.0]


def test_a_later_try_that_answers_counts(clock):
    provider = ScriptedProvider(clock, healthy_after=2)
    assert wait_healthy(provider, instance(provider), delay=0.5, sleep=clock.sleep, tries=3)
    assert len(provider.health_checks) == 3


def test_a_check_that_raises_is_a_failed_check(clock):
    provider = ScriptedProvider(clock)
    provider.health_raises.add("inst-1")
    assert not wait_healthy(provider, instance(provider), delay=1.0, sleep=clock.sleep, tries=2)
    assert len(provider.health_checks) == 2


def test_a_time_limit_bounds_the_checks(clock):
    provider = ScriptedProvider(clock)
    provider.broken.add("inst-1")
    assert not wait_healthy(provider, instance(provider), delay=2.0, sleep=clock.sleep, clock=clock,
                            give_up_at=clock() + 10)
    assert len(provider.health_checks) == 6  # at 0, 2, 4, 6, 8 and 10 s


def test_it_stops_asking_once_the_instance_is_no_longer_wanted(clock):
    provider = ScriptedProvider(clock)
    provider.broken.add("inst-1")
    wanted = iter([True, True, False])
    assert not wait_healthy(provider, instance(provider), delay=1.0, sleep=clock.sleep, clock=clock,
                            give_up_at=clock() + 100, still_wanted=lambda: next(wanted))
    assert len(provider.health_checks) == 2


def test_zero_tries_check_nothing(clock):
    provider = ScriptedProvider(clock)
    assert not wait_healthy(provider, instance(provider), delay=1.0, sleep=clock.sleep, tries=0)
    assert provider.health_checks == []


def test_a_time_limit_needs_a_clock(clock):
    provider = ScriptedProvider(clock)
    with pytest.raises(ValueError):
        wait_healthy(provider, instance(provider), delay=1.0, sleep=clock.sleep, give_up_at=clock() + 1)
