import pytest
import redis

from render_core.net.redis_retry import NO_RETRY, RedisRetry


class FakeTime:
    def __init__(self):
        self.now = 0.0
        self.slept = []

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


def flaky(failures, error=redis.ConnectionError("connection refused")):
    calls = []

    def call(value):
        calls.append(value)
        if len(calls) <= failures:
            raise error
        return value

    return call, calls


def test_connection_errors_are_retried_with_growing_delays_until_it_works():
    t = FakeTime()
    call, calls = flaky(4)
    assert RedisRetry(60, sleep=t.sleep, clock=t.clock).call(call, "ok") == "ok"
    assert len(calls) == 5
    assert all(later >= earlier * 0.5 for earlier, later in zip(t.slept, t.slept[1:]))
    assert max(t.slept) <= 2.0


def test_the_last_error_is_raised_once_the_budget_is_spent():
    t = FakeTime()
    call, calls = flaky(10_000, redis.TimeoutError("timeout"))
    with pytest.raises(redis.TimeoutError):
        RedisRetry(5, sleep=t.sleep, clock=t.clock).call(call, "x")
    assert t.now == pytest.approx(5.0) and len(calls) > 3


def test_other_errors_and_no_retry_raise_at_once():
    call, calls = flaky(1, redis.ResponseError("WRONGTYPE"))
    with pytest.raises(redis.ResponseError):
        RedisRetry(60).call(call, "x")
    call, calls = flaky(1)
    with pytest.raises(redis.ConnectionError):
        NO_RETRY.call(call, "x")
    assert len(calls) == 1
