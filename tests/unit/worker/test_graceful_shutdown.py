"""GracefulShutdown on Dramatiq's StubBroker and a real Worker: drain, ask, then interrupt."""

from __future__ import annotations

import threading
import time

import dramatiq
import pytest
from dramatiq import Worker
from dramatiq.brokers.stub import StubBroker

from render_core.worker.middleware.shutdown import STOP_GRACE, GracefulShutdown, dramatiq_shutdown_timeout


@pytest.fixture
def stack():
    """(broker, shutdown middleware, requeued messages); drain 0.3 s, grace 0.3 s."""
    requeued = []
    shutdown = GracefulShutdown(0.3, requeue=requeued.append, stop_grace=0.3)
    broker = StubBroker(middleware=[shutdown])
    broker.emit_after("process_boot")
    yield broker, shutdown, requeued
    broker.close()


def start_worker(broker) -> Worker:
    worker = Worker(broker, worker_threads=1, worker_timeout=50)
    worker.start()
    return worker


def test_a_job_that_watches_stopping_is_asked_only_after_the_drain(stack):
    broker, shutdown, requeued = stack
    events = []
    started = threading.Event()

    @dramatiq.actor(broker=broker, requeue_on_shutdown=True)
    def job():
        started.set()
        while not shutdown.stopping():
            if shutdown.draining() and "draining" not in events:
                events.append("draining")
            time.sleep(0.01)
        events.append("stopping")

    worker = start_worker(broker)
    job.send()
    assert started.wait(5)
    assert not shutdown.draining() and not shutdown.stopping()
    worker.stop(timeout=10_000)
    assert events == ["draining", "stopping"]
    assert requeued == []  # it returned by itself: giving the job back is the runner's part


def test_a_job_that_never_checks_is_interrupted_and_given_back(stack):
    broker, shutdown, requeued = stack
    started = threading.Event()
    interrupted = []

    @dramatiq.actor(broker=broker, requeue_on_shutdown=True)
    def stubborn():
        started.set()
        try:
            for _ in range(1000):  # 10 s unless interrupted
                time.sleep(0.01)
        except BaseException as exc:
            interrupted.append(type(exc).__name__)
            raise

    worker = start_worker(broker)
    message = stubborn.send()
    assert started.wait(5)
    worker.stop(timeout=10_000)
    assert interrupted == ["Shutdown"]
    assert [m.message_id for m in requeued] == [message.message_id]


def test_an_actor_without_the_option_is_left_to_finish(stack):
    broker, shutdown, requeued = stack
    started = threading.Event()
    finished = []

    @dramatiq.actor(broker=broker)
    def webhook():
        started.set()
        for _ in range(100):  # 1 s: longer than drain and grace together
            time.sleep(0.01)
        finished.append(True)

    worker = start_worker(broker)
    webhook.send()
    assert started.wait(5)
    worker.stop(timeout=10_000)
    assert finished == [True]
    assert requeued == []


def test_dramatiq_waits_for_drain_grace_and_exit():
    assert dramatiq_shutdown_timeout(100) > 100 + STOP_GRACE
