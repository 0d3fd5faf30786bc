"""GPU cost simulation: our shared pool (A) against the original one-GPU-per-worker policy (B).

Usage: python bench/bench_gpu_cost.py [--speed 100] [--workers 4] [--seed 1] [--span 4500]
           [--pools shipped launch-aware] [--max-instances 4 2 ...] [--backlog 4 1 ...]
           [--idle-timeout 300 120 ...] [--original-plain-queue]
The defaults (B, A shipped, A launch-aware) take about 2.5-3 real minutes on 2 cores.

Method (figures are printed, never asserted):
- Simulated time: a FakeComput3 (tests/support) whose clock runs ``--speed`` times faster
  than real time (100: 1 simulated s = 0.01 real s). A launch takes 60 simulated s before the
  node answers its health check; the fake bills per simulated second from launch to stop.
- One bursty trace (gpu_cost_trace, seeded): bursts of 5-15 jobs 0-8 s apart, quiet gaps
  of 120-900 s, jobs holding the GPU 20-120 s, bursts starting until ``--span`` s. Both
  policies play the same trace from the same shared queue with the same number of workers.
- A (ours): ``--workers`` threads lease from ONE real GpuPool (real redis-server, real
  Comput3Provider over HTTP to the fake) with the pool's default policy except
  max_instances; a real Monitor (leader, health, idle shutdown at GPU_IDLE_TIMEOUT=300 s,
  reconcile). Pool: fake clock + scaled sleep. Monitor: interval 15 s and retry delay 2 s
  divided by the speed (it waits in real time); its other times are compared with the
  pool's clock. Deadline for ``acquire``: submit + MAX_RENDER_TIME (1800 s).
- B (original): ``--workers`` threads, each owning at most one GPU: sleep 15-30 s (seeded),
  launch, poll health every 2 s until up, keep the GPU until idle 300 s, then stop it;
  a worker with an idle GPU gets a waiting job first. See gpu_cost_original_policy.
- A job: the leased node must answer GET / when the job starts and ends; it is held for the job's
  duration (lease renewed every lease_ttl/3). Latency = submit to finish (simulated s).
- ``--pools launch-aware``: A with a bench-side GpuPool subclass (gpu_cost_launch_aware)
  that keeps a new instance in state ``launching`` until its first health check passes:
  a measured proposal for a bug in the shipped pool, not the shipped pool.
- The target: A's GPU-seconds <= 0.6x B's, at p95 latency <= B's, with no more failed jobs.
- Scaling error: every Redis/HTTP round trip costs ~0.1-1 ms real = 0.01-0.1 simulated s at
  100x; the printed lag shows how late jobs entered the queue (CPU contention).
"""

from __future__ import annotations

import argparse
import itertools
import logging
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(Path(__file__).resolve().parent)]

import redis  # noqa: E402

from render_core.devservices import RedisServer, find_redis_server  # noqa: E402
from render_core.gpu.monitor import MonitorPolicy  # noqa: E402
from render_core.gpu.pool import GpuPool, PoolPolicy  # noqa: E402
from support.fake_comput3 import FakeComput3  # noqa: E402

from gpu_cost_launch_aware import LaunchAwarePool  # noqa: E402
from gpu_cost_original_policy import OriginalPolicy, run_original_policy  # noqa: E402
from gpu_cost_pool_policy import run_pool_policy  # noqa: E402
from gpu_cost_sim import LogTally, PolicyResult, percentile  # noqa: E402
from gpu_cost_trace import TraceShape, bursty_trace, describe  # noqa: E402

LAUNCH_DELAY = 60.0
MAX_RENDER_TIME = 1800.0
TARGET_GPU_RATIO = 0.6
POOLS = {"shipped": GpuPool, "launch-aware": LaunchAwarePool}


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info() -> str:
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    redis_version = subprocess.run([find_redis_server(), "--version"], capture_output=True, text=True).stdout.split()
    version = next((part.split("=", 1)[1] for part in redis_version if part.startswith("v=")), "?")
    return (f"nproc={usable} cpu={cpu_model()!r} python={platform.python_version()} "
            f"redis-server={version} os={platform.platform()}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--speed", type=float, default=100.0, help="simulated seconds per real second")
    parser.add_argument("--workers", type=int, default=4, help="worker threads of each policy")
    parser.add_argument("--seed", type=int, default=1, help="seed of the trace and of B's random sleeps")
    parser.add_argument("--span", type=float, default=4500.0, help="bursts start within this many simulated s")
    parser.add_argument("--pools", nargs="+", choices=POOLS, default=list(POOLS),
                        help="A variants: the shipped GpuPool and/or the bench-side launch-aware pool")
    parser.add_argument("--max-instances", type=int, nargs="+", default=None,
                        help="GPU_MAX_INSTANCES of A, one run per value (default: --workers)")
    parser.add_argument("--backlog", type=int, nargs="+", default=[PoolPolicy().backlog_per_launch],
                        help="A's backlog_per_launch, one run per value")
    parser.add_argument("--idle-timeout", type=float, nargs="+", default=[MonitorPolicy().idle_timeout],
                        help="A's GPU_IDLE_TIMEOUT (s), one run per value (B keeps 300 s)")
    parser.add_argument("--original-plain-queue", action="store_true",
                        help="also run B without 'a worker with an idle GPU gets the job first'")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    trace = bursty_trace(args.seed, TraceShape(span=args.span))
    pool_defaults, monitor_defaults = PoolPolicy(), MonitorPolicy()
    print("GPU cost simulation: shared pool (A) vs one GPU per worker (B); figures not asserted")
    print(f"machine: {machine_info()}")
    print(f"time: 1 simulated s = {1000 / args.speed:.1f} real ms (speed {args.speed:g}x); launch takes "
          f"{LAUNCH_DELAY:.0f} s; billed per simulated s from launch to stop")
    print(f"trace (seed {args.seed}): {describe(trace)}")
    print(f"workers: {args.workers} per policy; idle timeout {monitor_defaults.idle_timeout:.0f} s; "
          f"pre-launch wait A {pool_defaults.pre_launch_wait:.0f}/{pool_defaults.pre_launch_wait_max:.0f} s, "
          f"B random {OriginalPolicy().pre_launch[0]:.0f}-{OriginalPolicy().pre_launch[1]:.0f} s; "
          f"monitor every {monitor_defaults.interval:.0f} s")
    print("A: worker threads lease from ONE GpuPool (real redis-server; real Comput3Provider over HTTP to "
          "the fake) + a real Monitor; pool on the fake's clock, monitor interval/retry scaled to real time")
    print("B: each worker owns <= 1 GPU: random pre-launch sleep, launch, wait until healthy, stop after "
          "idle timeout; an idle GPU owner gets a waiting job first")
    print("job: the node must answer GET / at start and end and is held for the job's duration; latency = submit "
          "to finish; deadline for acquire = submit + MAX_RENDER_TIME 1800 s")
    print("all seconds below are simulated unless marked real", flush=True)

    tally = LogTally()
    core_log = logging.getLogger("render_core")
    core_log.setLevel(logging.INFO)
    core_log.addHandler(tally)
    results: list[tuple[PolicyResult, dict]] = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-gpu-cost-") as tmp:
        server = RedisServer(Path(tmp) / "redis")
        server.start()
        client = redis.Redis.from_url(server.url)
        try:
            for name, run in plan(args, trace, client, pool_defaults, monitor_defaults):
                tally.counts.clear()
                with FakeComput3(launch_delay=LAUNCH_DELAY, time_scale=args.speed) as fake:
                    result = run(name, fake)
                results.append((result, dict(tally.counts)))
                print(f"  ran {name}: {result.real_seconds:.1f} real s", flush=True)
        finally:
            client.close()
            server.stop()
    report(results, time.monotonic() - started)


def plan(args, trace, client, pool_defaults: PoolPolicy, monitor_defaults: MonitorPolicy):
    """(name, run(name, fake)) for every policy run; the first one (B) is the baseline."""
    originals = [("B original", OriginalPolicy(idle_timeout=monitor_defaults.idle_timeout))]
    if args.original_plain_queue:
        originals.append(("B original plain queue", OriginalPolicy(owners_first=False)))
    for label, original in originals:
        yield label, lambda name, fake, original=original: run_original_policy(
            name, fake, trace, speed=args.speed, workers=args.workers, policy=original, seed=args.seed)
    for pool_name, max_instances, backlog, idle in itertools.product(
            args.pools, args.max_instances or [args.workers], args.backlog, args.idle_timeout):
        pool_policy = replace(pool_defaults, max_instances=max_instances, backlog_per_launch=backlog)
        monitor_policy = replace(monitor_defaults, idle_timeout=idle)
        label = f"A {pool_name} max={max_instances} backlog={backlog}"
        if idle != monitor_defaults.idle_timeout:
            label += f" idle={idle:g}"
        yield label, lambda name, fake, p=pool_policy, m=monitor_policy, c=POOLS[pool_name]: run_pool_policy(
            name, fake, trace, client, speed=args.speed, workers=args.workers, pool_policy=p,
            monitor_policy=m, deadline_slack=MAX_RENDER_TIME, pool_class=c)


def report(results: list[tuple[PolicyResult, dict]], total_real: float) -> None:
    print()
    header = (f"{'policy':<40}{'jobs':>5}{'fail':>5}{'launch':>7}{'peak':>5}{'GPU-s':>9}{'GPU-s/job':>10}"
              f"{'p50 lat':>9}{'p95 lat':>9}{'p50 wait':>9}{'p95 wait':>9}{'real s':>8}{'cpu s':>7}{'lag':>6}")
    print(header)
    print("-" * len(header))
    for r, _ in results:
        print(f"{r.name:<40}{r.jobs:>5}{r.failed:>5}{r.launches:>7}{r.peak_gpus:>5}{r.billed:>9.0f}"
              f"{r.per_job:>10.1f}{percentile(r.latencies, 50):>9.1f}{percentile(r.latencies, 95):>9.1f}"
              f"{percentile(r.waits, 50):>9.1f}{percentile(r.waits, 95):>9.1f}{r.real_seconds:>8.1f}"
              f"{r.cpu_seconds:>7.1f}{r.max_release_lag:>6.1f}")
    print("(launch: launch calls at the fake; peak: most GPUs running at once, sampled every 5 s; "
          "wait: submit to lease; lat/wait over jobs that succeeded; lag: worst lateness of a job entering the queue)")
    baseline = results[0][0]
    print()
    for r, _ in results[1:]:
        gpu_ratio = r.billed / baseline.billed if baseline.billed else float("nan")
        p95_ratio = percentile(r.latencies, 95) / percentile(baseline.latencies, 95)
        met = gpu_ratio <= TARGET_GPU_RATIO and p95_ratio <= 1.0 and r.failed <= baseline.failed
        print(f"{r.name} / {baseline.name}: GPU-seconds x{gpu_ratio:.2f}, p95 latency x{p95_ratio:.2f}, "
              f"failed {r.failed} vs {baseline.failed} -> target (<= {TARGET_GPU_RATIO}x GPU-s at equal or "
              f"better p95) {'MET' if met else 'NOT met'}"
              + (f" (latencies of the {len(r.latencies)} jobs that succeeded)" if r.failed else ""))
    for r, counts in results:
        print(f"\n{r.name}: notes {r.notes}")
        if r.left_running:
            print(f"  WARNING: {r.left_running} instance(s) were still running at the fake at the end")
        for line, count in sorted(counts.items(), key=lambda item: -item[1])[:12]:
            print(f"  {count:>4} x {line[:150]}")
    print(f"\ntotal real time {total_real:.1f} s")


if __name__ == "__main__":
    main()
