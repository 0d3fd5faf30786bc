"""Dispatch latency: from POST to the job running, and to its webhook, with the worker warm, idle or loaded.

Usage: python bench/bench_dispatch.py [--warm 200] [--idle 15] [--idle-seconds 3] [--loaded 150]
           [--load-rate 100] [--idle-cpu-seconds 10]

Method (figures are printed, never asserted):
- A throwaway stack (bench/stack.py): redis-server, SeaweedFS S3, ``c3-render api`` (the default
  server, 2 workers, no access log), ``c3-render worker --processes 1 --threads 4`` with only the
  echo test plugin loaded (tests/plugins/echo: a no-op job that returns its message as text),
  a webhook receiver on 127.0.0.1.
- Each sample: t0 = time.time() just before ``POST /echo`` (with notify_url); "running" is the
  job's ``started_at`` (stamped by the runner as it starts the job); "webhook" is when the
  receiver got the job's webhook. The next sample starts after the webhook arrived.
- warm: samples back to back. after idle: each sample after ``--idle-seconds`` without any job.
  under load: while another thread POSTs no-op jobs without webhooks at ``--load-rate`` per s.
- Idle CPU: CPU seconds the worker's processes used during ``--idle-cpu-seconds`` without jobs.
- The machine has 2 cores shared by all of it (and other users): repeat runs and compare.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis
import requests

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH.parent), str(BENCH)]

from machine import machine_info  # noqa: E402
from stack import Receiver, Stack, cpu_seconds, process_tree  # noqa: E402

TARGETS = {"running": (10.0, 50.0), "webhook": (30.0, None)}


@dataclass
class Series:
    """Latencies (ms) of one scenario: POST -> running and POST -> webhook."""

    name: str
    running: list[float] = field(default_factory=list)
    webhook: list[float] = field(default_factory=list)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def distribution(values: list[float]) -> str:
    if not values:
        return "no samples"
    return (f"median {statistics.median(values):.1f} ms, p90 {percentile(values, 0.9):.1f} ms, "
            f"p99 {percentile(values, 0.99):.1f} ms (n={len(values)})")


class Prober:
    """Submits one job and measures it."""

    def __init__(self, api: str, client: redis.Redis, receiver: Receiver):
        self.api = api
        self.client = client
        self.receiver = receiver
        self.session = requests.Session()

    def sample(self, series: Series) -> None:
        t0 = time.time()
        answer = self.session.post(f"{self.api}/echo", json={"message": "probe", "notify_url": self.receiver.url},
                                   timeout=10)
        answer.raise_for_status()
        job_id = answer.json()["id"]
        if not self.receiver.expect(job_id).wait(30):
            raise SystemExit(f"no webhook for job {job_id} within 30 s")
        started = float(self.client.hget(f"c3render:job:{job_id}", "started_at"))
        series.running.append((started - t0) * 1000)
        series.webhook.append((self.receiver.arrived[job_id] - t0) * 1000)


def _load(api: str, rate: float, stop: threading.Event, sent: list[int]) -> None:
    session = requests.Session()
    interval = 1.0 / rate
    next_at = time.monotonic()
    while not stop.is_set():
        session.post(f"{api}/echo", json={"message": "load"}, timeout=10)
        sent[0] += 1
        next_at += interval
        delay = next_at - time.monotonic()
        if delay > 0:
            stop.wait(delay)


def measure(args) -> tuple[list[Series], float, int]:
    """Run the scenarios; returns (series, idle worker CPU in % of one core, load jobs sent)."""
    receiver = Receiver()
    try:
        with Stack() as stack:
            api = stack.start_api("--workers", "2")
            worker = stack.start_worker(processes=1, threads=4)
            client = redis.Redis.from_url(stack.redis.url)
            prober = Prober(api, client, receiver)
            for _ in range(20):  # warm-up: boots the worker, fills connection pools
                prober.sample(Series("warm-up"))
            warm, idle, loaded = Series("warm"), Series("after idle"), Series("under load")
            for _ in range(args.warm):
                prober.sample(warm)
            pids = process_tree(worker.pid)
            before = cpu_seconds(pids)
            time.sleep(args.idle_cpu_seconds)
            idle_cpu = (cpu_seconds(pids) - before) / args.idle_cpu_seconds * 100
            for _ in range(args.idle):
                time.sleep(args.idle_seconds)
                prober.sample(idle)
            stop, sent = threading.Event(), [0]
            loader = threading.Thread(target=_load, args=(api, args.load_rate, stop, sent), daemon=True)
            loader.start()
            time.sleep(1.0)
            for _ in range(args.loaded):
                prober.sample(loaded)
                time.sleep(0.01)
            stop.set()
            loader.join(10)
    finally:
        receiver.close()
    return [warm, idle, loaded], idle_cpu, sent[0]


def report(series: list[Series], idle_cpu: float, load_sent: int, args) -> list[str]:
    lines = [f"machine: {machine_info()}",
             "method: POST /echo (no-op job, notify_url) -> job started_at / webhook received; api: granian "
             "2 workers; worker: 1 process x 4 threads, echo plugin only; one redis-server, SeaweedFS S3; "
             f"after idle = {args.idle_seconds:g} s without jobs before each sample; under load = "
             f"{args.load_rate:g} other jobs/s ({load_sent} sent)", ""]
    for item in series:
        lines.append(f"POST -> running, {item.name:<11} {distribution(item.running)}")
    for item in series:
        lines.append(f"POST -> webhook, {item.name:<11} {distribution(item.webhook)}")
    lines.append(f"idle worker CPU: {idle_cpu:.2f} % of one core ({args.idle_cpu_seconds:g} s without jobs)")
    lines.append("targets: running median <= 10 ms, p99 <= 50 ms; webhook median <= 30 ms; "
                 "reference (the replaced service): >= 500 ms by design (0.5 s poll + fixed delays), not run")
    return lines


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--warm", type=int, default=200)
    parser.add_argument("--idle", type=int, default=15)
    parser.add_argument("--idle-seconds", type=float, default=3.0)
    parser.add_argument("--loaded", type=int, default=150)
    parser.add_argument("--load-rate", type=float, default=100.0)
    parser.add_argument("--idle-cpu-seconds", type=float, default=10.0)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    print(f"dispatch benchmark: {machine_info()}", flush=True)
    series, idle_cpu, sent = measure(args)
    print("\n".join(report(series, idle_cpu, sent, args)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
