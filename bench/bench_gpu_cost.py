"""GPU cost simulation: our shared pool (A) against the original one-GPU-per-worker policy (B).

Usage: python bench/bench_gpu_cost.py [--speed 100] [--workers 4] [--seed 1] [--span 5400]
                                      [--max-instances 4 [2 ...]] [--launch-aware]

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
- A job: leased node must answer GET / when the job starts; it is then held for the job's
  duration (lease renewed every lease_ttl/3). Latency = submit to finish (simulated s).
- ``--launch-aware`` adds A with a bench-side pool subclass (gpu_cost_launch_aware) that
  keeps a new instance in state ``launching`` until its first health check passes: a
  measured proposal, not the shipped pool.
- Scaling error: every Redis/HTTP round trip costs ~0.1-1 ms real = 0.01-0.1 s simulated
  per 100x speed; the release lag printed shows how late jobs entered the queue.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(Path(__file__).resolve().parent)]

import redis  # noqa: E402

from render_core.devservices import RedisServer, find_redis_server  # noqa: E402
from render_core.gpu.monitor import MonitorPolicy  # noqa: E402
from render_core.gpu.pool import PoolPolicy  # noqa: E402
from support.fake_comput3 import FakeComput3  # noqa: E402

from gpu_cost_original_policy import OriginalPolicy, run_original_policy  # noqa: E402
from gpu_cost_pool_policy import run_pool_policy  # noqa: E402
from gpu_cost_sim import LogTally, PolicyResult, percentile  # noqa: E402
from gpu_cost_trace import TraceShape, bursty_trace, describe  # noqa: E402

LAUNCH_DELAY = 60.0
MAX_RENDER_TIME = 1800.0
TARGET_GPU_RATIO = 0.6


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
    parser.add_argument("--span", type=float, default=5400.0, help="bursts start within this many simulated s")
    parser.add_argument("--max-instances", type=int, nargs="+", default=None,
                        help="GPU_MAX_INSTANCES of A; one A run per value (default: --workers)")
    parser.add_argument("--launch-aware", action="store_true",
                        help="also run A with the bench-side launch-aware pool (a proposed fix)")
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
    """(name, run(name, fake)) for every policy run, B first."""
    original = OriginalPolicy(idle_timeout=monitor_defaults.idle_timeout)
    yield "B original", lambda name, fake: run_original_policy(
        name, fake, trace, speed=args.speed, workers=args.workers, policy=original, seed=args.seed)
    variants = [("pool", None)]
    if args.launch_aware:
        from gpu_cost_launch_aware import LaunchAwarePool

        variants.append(("launch-aware pool", LaunchAwarePool))
    for max_instances in args.max_instances or [args.workers]:
        for label, pool_class in variants:
            policy = PoolPolicy(max_instances=max_instances)
            extra = {"pool_class": pool_class} if pool_class else {}
            yield f"A {label} max={max_instances}", lambda name, fake, policy=policy, extra=extra: run_pool_policy(
                name, fake, trace, client, speed=args.speed, workers=args.workers, pool_policy=policy,
                monitor_policy=monitor_defaults, deadline_slack=MAX_RENDER_TIME, **extra)


def report(results: list[tuple[PolicyResult, dict]], total_real: float) -> None:
    print()
    header = (f"{'policy':<28}{'jobs':>5}{'fail':>5}{'launch':>7}{'peak':>5}{'GPU-s':>9}{'GPU-s/job':>10}"
              f"{'p50 lat':>9}{'p95 lat':>9}{'p50 wait':>9}{'p95 wait':>9}{'real s':>8}{'cpu s':>7}{'lag':>6}")
    print(header)
    print("-" * len(header))
    for r, _ in results:
        print(f"{r.name:<28}{r.jobs:>5}{r.failed:>5}{r.launches:>7}{r.peak_gpus:>5}{r.billed:>9.0f}"
              f"{r.per_job:>10.1f}{percentile(r.latencies, 50):>9.1f}{percentile(r.latencies, 95):>9.1f}"
              f"{percentile(r.waits, 50):>9.1f}{percentile(r.waits, 95):>9.1f}{r.real_seconds:>8.1f}"
              f"{r.cpu_seconds:>7.1f}{r.max_release_lag:>6.1f}")
    print("(launch: launch calls at the fake; peak: most GPUs running at once, sampled every 5 s; "
          "wait: submit to lease; lag: worst lateness of a job entering the queue)")
    baseline = results[0][0]
    print()
    for r, _ in results[1:]:
        gpu_ratio = r.billed / baseline.billed if baseline.billed else float("nan")
        p95_ratio = percentile(r.latencies, 95) / percentile(baseline.latencies, 95)
        met = gpu_ratio <= TARGET_GPU_RATIO and p95_ratio <= 1.0 and r.failed <= baseline.failed
        print(f"{r.name} / {baseline.name}: GPU-seconds x{gpu_ratio:.2f}, p95 latency x{p95_ratio:.2f}, "
              f"failed {r.failed} vs {baseline.failed} -> target (<= {TARGET_GPU_RATIO}x GPU-s at equal or "
              f"better p95) {'MET' if met else 'NOT met'}")
    for r, counts in results:
        print(f"\n{r.name}: notes {r.notes}")
        if r.left_running:
            print(f"  WARNING: {r.left_running} instance(s) were still running at the fake at the end")
        for line, count in sorted(counts.items(), key=lambda item: -item[1])[:12]:
            print(f"  {count:>4} x {line[:150]}")
    print(f"\ntotal real time {total_real:.1f} s")


if __name__ == "__main__":
    main()
