"""Drain: how fast a worker with 2 processes empties a queue of 10,000 no-op jobs, and its memory.

Usage: python bench/bench_drain.py [--jobs 10000] [--processes 2] [--threads 8] [--profile SECONDS]

Method (figures are printed, never asserted):
- A throwaway stack (bench/stack.py: redis-server, SeaweedFS S3), only the echo test plugin loaded.
- ``--jobs`` echo jobs (no webhook) are queued first, through the shipped submit path
  (``JobLifecycle.submit``, in this process); then ``c3-render worker --processes 2 --threads 8``
  starts. jobs/s = jobs / (last ``finished_at`` - first ``started_at``), from the job records.
- CPU per job: user+system CPU of the worker's processes and of redis-server from the first start
  to the end of the drain, divided by the jobs: less sensitive to other users of the machine than jobs/s.
- Worker RSS: the worker's processes together, when the first job has started and after the last
  one finished (before the worker stops).
- ``--profile S``: py-spy samples the worker processes' GIL holders (Python CPU time) for S seconds
  during the drain; the functions with the most samples (own time, then including callees) are printed.
- The machine has 2 cores shared by the worker, Redis and other users: repeat runs and compare.
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import time
from pathlib import Path

import redis

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH.parent), str(BENCH)]

from machine import machine_info  # noqa: E402
from stack import Stack, cpu_seconds, process_tree, rss_mb  # noqa: E402

from render_core.config.settings import Settings  # noqa: E402
from render_core.dispatch.broker import NAMESPACE  # noqa: E402
from render_core.sdk.registry import load_registry  # noqa: E402

TARGET_JOBS_PER_S = 1500
TARGET_RSS_GROWTH = 0.10


def _queue(stack: Stack, jobs: int) -> list[str]:
    from render_api.services import ApiServices  # the API's own composition root

    services = ApiServices(Settings.from_env(stack.env), load_registry("echo"))
    task = services.registry.get("echo")
    params = services.registry.request_schema(task).validate({"message": "drain"})
    return [services.lifecycle.submit(task, params)["id"] for _ in range(jobs)]


def _profile(pids: list[int], seconds: float, out_dir: Path) -> list[str]:
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    outputs = []
    running = []
    for pid in pids:
        out = out_dir / f"profile-{pid}.txt"
        running.append(subprocess.Popen([spy, "record", "--pid", str(pid), "--duration", f"{seconds:g}",
                                         "--rate", "200", "--format", "raw", "--output", str(out), "--nonblocking",
                                         "--gil"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        outputs.append(out)
    for process in running:
        process.wait(seconds + 60)
    own, total = collections.Counter(), collections.Counter()
    samples = 0
    for out in outputs:
        if not out.exists():
            continue
        for line in out.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            frames = [f for f in stack.split(";") if f]
            if not frames or not count.isdigit():
                continue
            n = int(count)
            samples += n
            own[frames[-1]] += n
            for frame in set(frames):
                total[frame] += n
    lines = [f"py-spy --gil (threads holding the GIL: Python CPU time): {samples} samples of {len(outputs)} worker "
             f"processes over {seconds:g} s"]
    lines.append("  own time:")
    lines += [f"    {n / samples:6.1%}  {frame[:150]}" for frame, n in own.most_common(15)]
    lines.append("  including callees:")
    lines += [f"    {n / samples:6.1%}  {frame[:150]}" for frame, n in total.most_common(30)]
    return lines


def measure(args) -> dict:
    with Stack() as stack:
        client = redis.Redis.from_url(stack.redis.url)
        queued_at = time.monotonic()
        ids = _queue(stack, args.jobs)
        queue_seconds = time.monotonic() - queued_at
        worker = stack.start_worker(processes=args.processes, threads=args.threads)
        first = f"c3render:job:{ids[0]}"
        deadline = time.monotonic() + 120
        while client.hget(first, "status") == b"queued":
            if worker.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the worker did not start: " + stack.log_tail("worker"))
            time.sleep(0.005)
        pids = process_tree(worker.pid)
        rss_start = rss_mb(pids)
        cpu_start = cpu_seconds(pids), cpu_seconds([stack.redis.process.pid])
        profile = _profile(pids, args.profile, stack.tmp) if args.profile else []
        queue = f"{NAMESPACE}:task.echo"
        deadline = time.monotonic() + 600
        while True:
            pipe = client.pipeline(transaction=False)
            for job_id in ids[-50:]:
                pipe.hget(f"c3render:job:{job_id}", "status")
            if client.llen(queue) == 0 and all(s in (b"success", b"failed") for s in pipe.execute()):
                break
            if worker.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the drain did not finish: " + stack.log_tail("worker"))
            time.sleep(0.2)
        cpu_end = cpu_seconds(pids), cpu_seconds([stack.redis.process.pid])
        time.sleep(0.5)
        rss_end = rss_mb(process_tree(worker.pid))
        pipe = client.pipeline(transaction=False)
        for job_id in ids:
            pipe.hmget(f"c3render:job:{job_id}", "status", "started_at", "finished_at")
        rows = pipe.execute()
        stack.stop(worker)
    statuses = collections.Counter(row[0].decode() for row in rows)
    starts = [float(row[1]) for row in rows if row[1]]
    ends = [float(row[2]) for row in rows if row[2]]
    span = max(ends) - min(starts)
    return {"jobs": args.jobs, "statuses": dict(statuses), "span": span, "rate": args.jobs / span,
            "rss_start": rss_start, "rss_end": rss_end,
            "worker_cpu_ms": (cpu_end[0] - cpu_start[0]) * 1000 / args.jobs,
            "redis_cpu_ms": (cpu_end[1] - cpu_start[1]) * 1000 / args.jobs, "queue_seconds": queue_seconds, "profile": profile}


def report(result: dict, args) -> list[str]:
    growth = result["rss_end"] / result["rss_start"] - 1
    lines = [f"machine: {machine_info()}",
             f"method: {result['jobs']} echo jobs queued through JobLifecycle.submit (took "
             f"{result['queue_seconds']:.1f} s), then c3-render worker --processes {args.processes} --threads "
             f"{args.threads}; rate = jobs / (last finished_at - first started_at)", "",
             f"drain: {result['rate']:,.0f} jobs/s ({result['jobs']} jobs in {result['span']:.2f} s; "
             f"outcomes {result['statuses']})",
             f"CPU per job: worker {result['worker_cpu_ms']:.2f} ms, redis-server {result['redis_cpu_ms']:.2f} ms "
             f"(2 cores / total = {2000 / (result['worker_cpu_ms'] + result['redis_cpu_ms']):,.0f} jobs/s if the "
             f"machine were ours alone)",
             f"worker RSS: {result['rss_start']:.0f} MiB at the first start, {result['rss_end']:.0f} MiB after the "
             f"last finish ({growth:+.1%})",
             f"target: >= {TARGET_JOBS_PER_S:,} jobs/s, RSS growth < {TARGET_RSS_GROWTH:.0%}; reference (the "
             f"replaced service): one job per worker process at a time"]
    return lines + result["profile"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--profile", type=float, default=0.0, help="py-spy the worker for this many seconds")
    args = parser.parse_args(argv)
    print(f"drain benchmark: {machine_info()}", flush=True)
    print("\n".join(report(measure(args), args)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
