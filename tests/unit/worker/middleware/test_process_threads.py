"""ProcessThreads: the heartbeat and the process's loops (job holds, webhook pump, sweeper, pool monitor)
start with the worker and stop with it."""

from __future__ import annotations

import threading
import time

from dramatiq import Middleware
from dramatiq.brokers.stub import StubBroker
from prometheus_client import REGISTRY

from render_core.worker.middleware.process_threads import ProcessThreads
from support.job_harness import running_worker
from support.servers import wait_for


class RecordingMonitor:
    def __init__(self):
        self.calls: list[str] = []

    def start(self):
        self.calls.append("start")

    def stop(self):
        self.calls.append("stop")


class RecordingHolds(RecordingMonitor):
    """A loop that wants the Dramatiq worker (its work queue) before it starts, and runs until it stopped."""

    until_exit = True

    def attach(self, worker):
        self.calls.append(f"attach {type(worker).__name__}")


class ShutdownProbe(Middleware):
    """Records, when the worker's shutdown begins, what the loops had been told by then."""

    def __init__(self, holds, monitor):
        self.holds, self.monitor, self.seen = holds, monitor, None

    def before_worker_shutdown(self, broker, worker):
        self.seen = (list(self.holds.calls), list(self.monitor.calls))


def heartbeat_threads() -> int:
    return sum(1 for thread in threading.enumerate() if thread.name == "c3-heartbeat")


def sample(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


def test_threads_start_after_the_worker_boots_and_stop_at_shutdown():
    monitor, holds = RecordingMonitor(), RecordingHolds()
    middleware = ProcessThreads([holds, monitor])
    probe = ShutdownProbe(holds, monitor)
    broker = StubBroker(middleware=[middleware, probe])
    assert monitor.calls == holds.calls == [], "nothing starts before the worker does"
    started = time.time()
    with running_worker(broker, threads=3):
        assert monitor.calls == ["start"] and heartbeat_threads() == 1
        assert holds.calls == ["attach Worker", "start"]
        assert sample("c3_render_worker_threads") == 3
        wait_for(lambda: sample("c3_render_worker_heartbeat_timestamp_seconds") >= started, timeout=5,
                 message="a heartbeat")
    assert monitor.calls == ["start", "stop"] and holds.calls[-1] == "stop"
    assert probe.seen == (["attach Worker", "start"], ["start", "stop"]), "holds outlive the drain"
    wait_for(lambda: heartbeat_threads() == 0, timeout=5, message="the heartbeat thread to end")
    broker.close()


def test_without_loops_only_the_heartbeat_runs():
    middleware = ProcessThreads([])
    broker = StubBroker(middleware=[middleware])
    with running_worker(broker):
        assert heartbeat_threads() == 1
    wait_for(lambda: heartbeat_threads() == 0, timeout=5, message="the heartbeat thread to end")
    broker.close()
