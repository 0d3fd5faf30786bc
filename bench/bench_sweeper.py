"""Print what one sweep costs (ms, and per open job) as the number of open jobs grows.

Method: a throwaway redis-server; N jobs submitted through JobLifecycle (records, open index,
run_job messages); then either every job held by a live worker (the common case: the sweep
reads only the index and the holds), or every job unheld with its message waiting (each record
and its queue are read). Median of 5 sweeps each. Figures are printed, not asserted.

Run: python bench/bench_sweeper.py [N ...]   (from the repo root; default 1000 10000)
"""

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]

import redis  # noqa: E402

from render_core.config.settings import Settings  # noqa: E402
from render_core.devtools.devservices import RedisServer  # noqa: E402
from render_core.dispatch.broker import build_broker  # noqa: E402
from render_core.jobs.lifecycle import JobLifecycle  # noqa: E402
from render_core.jobs.store import JobStore  # noqa: E402
from render_core.sdk.schema import Schema  # noqa: E402
from render_core.sdk.task import Task, TextOutput  # noqa: E402
from render_core.worker.job_holds import JobHolds  # noqa: E402
from render_core.worker.sweeper import Sweeper, SweepPolicy  # noqa: E402
from machine import machine_info  # noqa: E402

TASK = Task(name="bench", schema=Schema({}), run=lambda ctx, params: TextOutput(""), output="text")


def sweep_ms(sweeper: Sweeper, runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        report = sweeper.sweep_once()
        times.append((time.perf_counter() - started) * 1000)
    assert not report.requeued and not report.ended
    return statistics.median(times)


def bench(client: redis.Redis, n: int) -> None:
    client.flushdb()
    lifecycle = JobLifecycle(JobStore(client, ttl=3600), build_broker(Settings(), client))
    ids = [lifecycle.submit(TASK, {"complete_in": 3600, "max_time": 1200})["id"] for _ in range(n)]
    sweeper = Sweeper(lifecycle, SweepPolicy(interval=15, grace=30))
    waiting = sweep_ms(sweeper)
    JobHolds(client, ttl=600).publish(ids)
    held = sweep_ms(sweeper)
    print(f"{n:>7} open jobs: all held {held:8.1f} ms ({held / n * 1000:.1f} us/job); "
          f"all waiting in their queue {waiting:8.1f} ms ({waiting / n * 1000:.1f} us/job)")


def main() -> None:
    sizes = [int(arg) for arg in sys.argv[1:]] or [1000, 10000]
    print(f"sweeper cost; {machine_info()}")
    with tempfile.TemporaryDirectory() as tmp, RedisServer(Path(tmp)) as server:
        client = redis.Redis.from_url(server.url)
        for n in sizes:
            bench(client, n)


if __name__ == "__main__":
    main()
