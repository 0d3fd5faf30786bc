"""GPU cost simulation: our shared pool (A) against the original one-GPU-per-worker policy (B).

Usage: python bench/bench_gpu_cost.py [--seed 1 2 ...] [--speed 100] [--workers 4] [--span 4500]
           [--max-instances 4 2 ...] [--backlog 2 1 ...] [--surplus-idle 60 30 ...] [--sweep]
           [--extra NAME=VALUE ...] [--original-plain-queue]
The default (one seed: B, then A with the service defaults) takes about 2 real minutes on 2 cores;
each further seed or A setting adds about 1 real minute. ``--sweep`` varies one setting at a
time around the defaults (GPU_LAUNCH_BACKLOG 1/2/4, GPU_SURPLUS_IDLE_TIMEOUT 30/60/120 s,
GPU_MAX_INSTANCES 2/3/4): about 6 real minutes per seed. ``--extra NAME=VALUE`` sets more
service variables (e.g. GPU_WARM_INSTANCES=0) for every A run.

Method (figures are printed, never asserted):
- Simulated time: a FakeComput3 (tests/support) whose clock runs ``--speed`` times faster
  than real time (100: 1 simulated s = 0.01 real s). A launch takes 60 simulated s before the
  node answers its health check; the fake bills per simulated second from launch to stop.
- Two traces per seed (gpu_cost_trace): "bursty", bursts of 5-15 jobs 0-8 s apart, quiet gaps
  of 120-900 s, jobs holding the GPU 20-120 s, bursts starting until ``--span`` s; "daily", a
  steady Poisson stream (mean one job per 75 s) whose rate follows a day compressed into ``--span``
  s (x0.2 at night, x1.8 at noon), same job lengths. Both policies play the same trace from the
  same shared queue with the same number of workers. ``--trace`` picks one of them.
- A (ours, only shipped code): ``--workers`` threads lease from ONE render_core GpuPool (real
  redis-server, real Comput3Provider over HTTP to the fake) watched by a render_core Monitor
  (leader, health, warm/surplus idle shutdown, reconcile). PoolPolicy and MonitorPolicy are
  built from ``Settings`` defaults as render_core.worker.services builds them, except
  GPU_MAX_INSTANCES = ``--workers`` (4, to match B's 4 workers; the service default is 2) and
  the swept variables. ``acquire`` gets ``queued=`` the shared queue's length (the service
  passes its broker queue length) and deadline submit + MAX_RENDER_TIME (1800 s). Pool: the
  fake's clock and a scaled sleep. Monitor: ``interval`` and ``retry_delay`` divided by the
  speed (it waits in real time); its other times are compared with the pool's clock.
- B (original): ``--workers`` threads, each owning at most one GPU: sleep 15-30 s (seeded),
  launch, poll health every 2 s until up, keep the GPU until idle 300 s, then stop it;
  a worker with an idle GPU gets a waiting job first. See gpu_cost_original_policy.
- A job: the leased node must answer GET / when the job starts and ends; it is held for the job's
  duration (lease renewed every lease_ttl/3). Latency = submit to finish (simulated s).
- The target: A's GPU-seconds <= 0.6x B's, at p95 latency <= 1.05x B's, with no more failed jobs.
- Misbehaviour of the shipped pool (failed jobs, stops other than idle shutdown, lease
  reclaims, adoptions, more GPUs than GPU_MAX_INSTANCES, instances left running) is listed
  per run with a timeline in simulated s since the run started.
- Scaling error: every Redis/HTTP round trip costs ~0.1-1 ms real = 0.01-0.1 simulated s at
  100x; the printed lag shows how late jobs entered the queue (CPU contention).
"""

from __future__ import annotations

import argparse
import itertools
import logging
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(Path(__file__).resolve().parent)]

import redis  # noqa: E402

from render_core.devtools.devservices import RedisServer, find_redis_server  # noqa: E402
from render_core.config.settings import Settings  # noqa: E402
from support.fake_comput3 import FakeComput3  # noqa: E402

from gpu_cost_original_policy import OriginalPolicy, run_original_policy  # noqa: E402
from gpu_cost_pool_policy import run_pool_policy, service_policies  # noqa: E402
from gpu_cost_sim import LogTally, PolicyResult, percentile  # noqa: E402
from gpu_cost_trace import TRACES, describe  # noqa: E402
from machine import machine_info  # noqa: E402

LAUNCH_DELAY = 60.0
TARGET_GPU_RATIO = 0.6
TARGET_P95_RATIO = 1.05
DEFAULTS = Settings.from_env({})
#: --sweep: service variable -> values, one variable varied at a time around the defaults
SWEEP = {"GPU_LAUNCH_BACKLOG": (1, 2, 4), "GPU_SURPLUS_IDLE_TIMEOUT": (30, 60, 120), "GPU_MAX_INSTANCES": (2, 3, 4)}
SHORT = {"GPU_MAX_INSTANCES": "max", "GPU_LAUNCH_BACKLOG": "backlog", "GPU_SURPLUS_IDLE_TIMEOUT": "surplus",
         "GPU_WARM_INSTANCES": "warm", "GPU_IDLE_TIMEOUT": "idle"}
#: stop reasons (prefixes) that are normal operation, not misbehaviour
NORMAL_STOPS = ("idle for ",)


@dataclass
class Run:
    """One policy run on one seed; ``setting`` is the A variables (empty for B)."""

    seed: str  # "<trace> <seed>"
    result: PolicyResult
    setting: dict
    counts: dict
    events: list
    max_instances: int | None = None


def machine_with_redis() -> str:
    """The machine line plus the redis-server version the pool ran against."""
    redis_version = subprocess.run([find_redis_server(), "--version"], capture_output=True, text=True).stdout.split()
    version = next((part.split("=", 1)[1] for part in redis_version if part.startswith("v=")), "?")
    return f"{machine_info()} redis-server={version}"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--speed", type=float, default=100.0, help="simulated seconds per real second")
    parser.add_argument("--workers", type=int, default=4, help="worker threads of each policy")
    parser.add_argument("--seed", type=int, nargs="+", default=[1],
                        help="seeds of the trace and of B's random sleeps, one trace per seed")
    parser.add_argument("--span", type=float, default=4500.0, help="jobs arrive within this many simulated s")
    parser.add_argument("--trace", nargs="+", choices=sorted(TRACES), default=["bursty", "daily"],
                        help="bursty: bursts and quiet gaps; daily: steady Poisson arrivals on a daily cycle")
    parser.add_argument("--max-instances", type=int, nargs="+", default=None,
                        help="A's GPU_MAX_INSTANCES, one run per value (default: --workers)")
    parser.add_argument("--backlog", type=int, nargs="+", default=[DEFAULTS.gpu_launch_backlog],
                        help="A's GPU_LAUNCH_BACKLOG, one run per value")
    parser.add_argument("--surplus-idle", type=float, nargs="+", default=[DEFAULTS.gpu_surplus_idle_timeout],
                        help="A's GPU_SURPLUS_IDLE_TIMEOUT (s), one run per value")
    parser.add_argument("--sweep", action="store_true",
                        help="instead of the lists above, vary one variable at a time: " +
                             ", ".join(f"{k} {'/'.join(map(str, v))}" for k, v in SWEEP.items()))
    parser.add_argument("--extra", nargs="+", default=[], metavar="NAME=VALUE",
                        help="more service variables for every A run, e.g. GPU_WARM_INSTANCES=0 GPU_IDLE_TIMEOUT=120")
    parser.add_argument("--original-plain-queue", action="store_true",
                        help="also run B without 'a worker with an idle GPU gets the job first'")
    return parser.parse_args()


def a_settings(args) -> list[dict]:
    """The service variables of every A run (values as strings, as in the environment)."""
    base = {"GPU_MAX_INSTANCES": args.workers, "GPU_LAUNCH_BACKLOG": DEFAULTS.gpu_launch_backlog,
            "GPU_SURPLUS_IDLE_TIMEOUT": DEFAULTS.gpu_surplus_idle_timeout}
    if args.sweep:
        settings = [base]
        for name, values in SWEEP.items():
            settings += [{**base, name: value} for value in values if value != base[name]]
    else:
        settings = [{"GPU_MAX_INSTANCES": m, "GPU_LAUNCH_BACKLOG": b, "GPU_SURPLUS_IDLE_TIMEOUT": s}
                    for m, b, s in itertools.product(args.max_instances or [args.workers], args.backlog,
                                                     args.surplus_idle)]
    extra = dict(item.split("=", 1) for item in args.extra if "=" in item)
    for name, value in extra.items():
        if Settings.from_env({name: value}) == DEFAULTS:
            raise SystemExit(f"--extra {name}={value} changes no service setting: unknown variable or its default")
    if len(extra) != len(args.extra):
        raise SystemExit("--extra takes NAME=VALUE items, e.g. GPU_WARM_INSTANCES=0")
    return [{**{name: f"{value:g}" for name, value in setting.items()}, **extra} for setting in settings]


def label(setting: dict) -> str:
    return "A " + " ".join(f"{SHORT.get(name, name)}={value}" for name, value in setting.items())


def print_header(args, settings: list[dict]) -> None:
    pool, monitor = service_policies(Settings.from_env({"GPU_MAX_INSTANCES": str(args.workers)}))
    print("GPU cost simulation: shared pool (A, shipped render_core code) vs one GPU per worker (B); "
          "figures not asserted")
    print(f"machine: {machine_with_redis()}")
    print(f"time: 1 simulated s = {1000 / args.speed:.1f} real ms (speed {args.speed:g}x); launch takes "
          f"{LAUNCH_DELAY:.0f} s; billed per simulated s from launch to stop; all seconds below are simulated "
          "unless marked real")
    for name in args.trace:
        for seed in args.seed:
            print(f"trace {name} seed {seed}: {describe(TRACES[name](seed, args.span))}")
    print(f"workers: {args.workers} per policy")
    print(f"A: {args.workers} worker threads lease from ONE render_core GpuPool (real redis-server; real "
          "Comput3Provider over HTTP to the fake) + a render_core Monitor; acquire(queued=shared queue length, "
          "deadline=submit + MAX_RENDER_TIME)")
    print(f"A policies built from Settings defaults like render_core.worker.services, with GPU_MAX_INSTANCES="
          f"{args.workers} (service default {DEFAULTS.gpu_max_instances}; set to B's worker count): "
          f"lease_ttl {pool.lease_ttl:g}, pre-launch wait {pool.pre_launch_wait:g}/{pool.pre_launch_wait_max:g}, "
          f"backlog_per_launch {pool.backlog_per_launch}, ready_poll {pool.ready_poll:g}; monitor every "
          f"{monitor.interval:g}, {monitor.tries} health tries {monitor.retry_delay:g} apart, idle_timeout "
          f"{monitor.idle_timeout:g} for {monitor.warm_instances} warm instance(s), surplus_idle_timeout "
          f"{monitor.surplus_idle_timeout:g}, young_grace {monitor.young_grace:g}")
    print("A scaling: pool on the fake's clock + scaled sleep; only the monitor's interval and retry delay "
          "(real waits) are divided by the speed")
    print(f"A settings run: {'; '.join(label(s)[2:] for s in settings)}")
    original = OriginalPolicy(idle_timeout=DEFAULTS.gpu_idle_timeout)
    print(f"B: each worker owns <= 1 GPU: random pre-launch sleep {original.pre_launch[0]:g}-"
          f"{original.pre_launch[1]:g}, launch, poll health every {original.ready_poll:g} until up, stop after idle "
          f"{original.idle_timeout:g}; an idle GPU owner gets a waiting job first")
    print("job: the node must answer GET / at start and end and is held for the job's duration; "
          "latency = submit to finish", flush=True)


def main() -> None:
    args = parse_args()
    settings = a_settings(args)
    print_header(args, settings)
    tally = LogTally()
    for logger_name in ("render_core", "gpu_cost"):
        logging.getLogger(logger_name).setLevel(logging.INFO)
        logging.getLogger(logger_name).addHandler(tally)
    runs: list[Run] = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-gpu-cost-") as tmp:
        server = RedisServer(Path(tmp) / "redis")
        server.start()
        client = redis.Redis.from_url(server.url)
        try:
            for trace_name, seed in itertools.product(args.trace, args.seed):
                trace = TRACES[trace_name](seed, args.span)
                for name, setting, run in plan(args, seed, trace, client, settings):
                    with FakeComput3(launch_delay=LAUNCH_DELAY, time_scale=args.speed) as fake:
                        tally.reset(fake.now)
                        result = run(name, fake)
                    limit = int(setting["GPU_MAX_INSTANCES"]) if setting else None
                    runs.append(Run(f"{trace_name} {seed}", result, setting, dict(tally.counts), list(tally.events),
                                    limit))
                    print(f"  ran {trace_name} seed {seed} {name}: {result.real_seconds:.1f} real s", flush=True)
        finally:
            client.close()
            server.stop()
    report(runs, time.monotonic() - started)


def plan(args, seed: int, trace, client, settings: list[dict]):
    """(name, A setting or {}, run(name, fake)) for every run of one seed; B first (the baseline)."""
    originals = [("B original", OriginalPolicy(idle_timeout=DEFAULTS.gpu_idle_timeout))]
    if args.original_plain_queue:
        originals.append(("B original plain queue", replace(originals[0][1], owners_first=False)))
    for name, original in originals:
        yield name, {}, lambda name, fake, original=original: run_original_policy(
            name, fake, trace, speed=args.speed, workers=args.workers, policy=original, seed=seed)
    for setting in settings:
        pool_policy, monitor_policy = service_policies(Settings.from_env(setting))
        yield label(setting), setting, lambda name, fake, p=pool_policy, m=monitor_policy: run_pool_policy(
            name, fake, trace, client, speed=args.speed, workers=args.workers, pool_policy=p, monitor_policy=m,
            deadline_slack=DEFAULTS.max_render_time)


def ratios(run: Run, baseline: Run) -> tuple[float, float, bool]:
    """(GPU-seconds ratio, p95 latency ratio, target met) of ``run`` against ``baseline``."""
    r, b = run.result, baseline.result
    gpu = r.billed / b.billed if b.billed else float("nan")
    p95 = percentile(r.latencies, 95) / percentile(b.latencies, 95)
    return gpu, p95, gpu <= TARGET_GPU_RATIO and p95 <= TARGET_P95_RATIO and r.failed <= b.failed


def report(runs: list[Run], total_real: float) -> None:
    for seed in dict.fromkeys(run.seed for run in runs):
        seed_runs = [run for run in runs if run.seed == seed]
        print_table(seed, seed_runs)
        baseline = seed_runs[0]
        for run in seed_runs[1:]:
            gpu, p95, met = ratios(run, baseline)
            print(f"seed {seed} {run.result.name} / {baseline.result.name}: GPU-seconds x{gpu:.2f}, p95 latency "
                  f"x{p95:.2f}, failed {run.result.failed} vs {baseline.result.failed} -> target (<= "
                  f"{TARGET_GPU_RATIO}x GPU-s at p95 <= {TARGET_P95_RATIO}x) {'MET' if met else 'NOT met'}")
    print_summary(runs)
    for run in runs:
        print_behaviour(run)
    print(f"\ntotal real time {total_real:.1f} s")


def print_table(seed: str, runs: list[Run]) -> None:
    print(f"\nseed {seed}")
    header = (f"{'policy':<34}{'jobs':>5}{'fail':>5}{'launch':>7}{'peak':>5}{'GPU-s':>8}{'idle':>6}{'GPU-s/job':>10}"
              f"{'p50 lat':>8}{'p95 lat':>8}{'p50 wait':>9}{'p95 wait':>9}{'real s':>7}{'cpu s':>6}{'lag':>5}")
    print(header)
    print("-" * len(header))
    for run in runs:
        r = run.result
        idle = r.billed - r.work - r.launches * LAUNCH_DELAY
        print(f"{r.name:<34}{r.jobs:>5}{r.failed:>5}{r.launches:>7}{r.peak_gpus:>5}{r.billed:>8.0f}{idle:>6.0f}"
              f"{r.per_job:>10.1f}{percentile(r.latencies, 50):>8.1f}{percentile(r.latencies, 95):>8.1f}"
              f"{percentile(r.waits, 50):>9.1f}{percentile(r.waits, 95):>9.1f}{r.real_seconds:>7.1f}"
              f"{r.cpu_seconds:>6.1f}{r.max_release_lag:>5.1f}")
    print("(launch: launch calls at the fake; peak: most GPUs running at once, sampled every 1 s; idle: GPU-s "
          f"neither starting nor working = GPU-s - job durations - launches x {LAUNCH_DELAY:g}; wait: submit to lease; "
          "lat/wait over jobs that succeeded; lag: worst lateness of a job entering the queue)")


def print_summary(runs: list[Run]) -> None:
    """Per A setting over all seeds: mean GPU ratio, worst p95 ratio, failures; then the best setting."""
    baselines = {run.seed: run for run in runs if not run.setting and run.result.name == "B original"}
    by_setting: dict[str, list[Run]] = {}
    for run in runs:
        if run.setting:
            by_setting.setdefault(run.result.name, []).append(run)
    if not by_setting:
        return
    print(f"\nover seeds {', '.join(map(str, baselines))} (A / B of the same seed)")
    rows = []
    for name, setting_runs in by_setting.items():
        measured = [ratios(run, baselines[run.seed]) for run in setting_runs]
        gpu = statistics.fmean(m[0] for m in measured)
        p95 = max(m[1] for m in measured)
        failed = sum(run.result.failed for run in setting_runs)
        met = all(m[2] for m in measured)
        rows.append((name, gpu, p95, failed, met))
        print(f"  {name:<34} GPU-s x{gpu:.2f} (mean), p95 x{p95:.2f} (worst), failed {failed}, "
              f"target {'MET on every seed' if met else 'NOT met on every seed'}")
    met_rows = [row for row in rows if row[4]]
    if met_rows:
        best = min(met_rows, key=lambda row: row[1])
        print(f"best setting meeting the target: {best[0]} (GPU-s x{best[1]:.2f}, p95 x{best[2]:.2f})")
    else:
        best = min(rows, key=lambda row: (row[3], row[1]))
        print(f"no setting meets the target on every seed; fewest failures then least GPU-s: {best[0]} "
              f"(GPU-s x{best[1]:.2f}, p95 x{best[2]:.2f}, failed {best[3]})")


def print_behaviour(run: Run) -> None:
    """Misbehaviour of one run (failures, abnormal stops, warnings, leaks) with a timeline."""
    r = run.result
    print(f"\nseed {run.seed} {r.name}: notes {r.notes}")
    problems = []
    if r.left_running:
        problems.append(f"{r.left_running} instance(s) still running at the fake that the pool did not know")
    if run.max_instances is not None and r.peak_gpus > run.max_instances:
        problems.append(f"peak {r.peak_gpus} GPUs > GPU_MAX_INSTANCES {run.max_instances}")
    if r.notes.get("pool records stopped at teardown"):
        problems.append(f"{r.notes['pool records stopped at teardown']} pool record(s) left after the drain wait")
    for problem in problems:
        print(f"  WARNING: {problem}")
    for line, count in sorted(run.counts.items(), key=lambda item: -item[1])[:10]:
        print(f"  {count:>4} x {line[:150]}")
    if run.max_instances is not None:
        print_over_limit(run.events, run.max_instances)
    timeline = [(t, f"{level} {message}") for t, level, message in run.events if abnormal(level, message)]
    timeline += [(t, f"JOB FAILED {job}: {error}") for t, job, error in r.failures]
    if timeline:
        print(f"  timeline of {len(timeline)} abnormal event(s) (simulated s since start; first 25):")
        for t, text in sorted(timeline)[:25]:
            print(f"    {t:8.1f}  {text[:160]}")


def print_over_limit(events: list, limit: int, shown: int = 3) -> None:
    """The first ``shown`` moments more than ``limit`` instances ran (launch and stop calls as
    logged by the provider), each with the pool's launch/stop lines of the 3 s before it."""
    running: set[str] = set()
    moments = 0
    for index, (t, _, message) in enumerate(events):
        words = message.split()
        if message.startswith("launched Comput3 "):
            running.add(words[4])
        elif message.startswith("stopped Comput3 workload "):
            running.discard(words[3])
        else:
            continue
        if len(running) > limit:
            moments += 1
            if moments <= shown:
                print(f"  {len(running)} instances running > GPU_MAX_INSTANCES {limit} at {t:.1f} s; "
                      "the lines of the 3 s before:")
                for t_before, level, text in events[:index + 1]:
                    if t - 3.0 <= t_before and text.startswith(("launch", "stopped")):
                        print(f"    {t_before:8.2f}  {text[:200]}")
    if moments > shown:
        print(f"  ... {moments - shown} more launch(es) above the limit")


def abnormal(level: str, message: str) -> bool:
    """A pool/monitor log line that is not normal operation."""
    if level in ("WARNING", "ERROR", "CRITICAL"):
        return True
    if message.startswith("stopped ") and ": " in message:
        reason = message.split(": ", 1)[1]
        return not reason.startswith(NORMAL_STOPS) and reason != "bench teardown"
    return False


if __name__ == "__main__":
    main()
