"""``make bench``: every figure of the performance table, C3 Render beside the replaced service.

Usage: python bench/report.py [--quick] [--skip api dispatch drain gpu]

Runs bench_api (wrk against both APIs), bench_dispatch, bench_drain and bench_gpu_cost (as a
subprocess; its full output goes to a log file named at the end), then prints one table. Each
part prints its own method first. ``--quick`` shortens every part (fewer rounds and samples) for
a smoke run; figures from it are less stable. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH.parent), str(BENCH)]

import bench_api  # noqa: E402
import bench_dispatch  # noqa: E402
import bench_drain  # noqa: E402
from machine import machine_info  # noqa: E402


def _api(quick: bool) -> list[tuple[str, str, str, str]]:
    seconds, rounds = (5.0, 1) if quick else (10.0, 3)
    reference, variants = bench_api.measure(["--workers 2"], seconds=seconds, rounds=rounds)
    print("\n".join(bench_api.report(reference, variants, seconds=seconds, rounds=rounds, connections=32,
                                     threads=2)), flush=True)
    rows = []
    for path, (ratio_target, p99_target) in bench_api.TARGETS.items():
        base = bench_api._median(reference.runs[path])
        mine = bench_api._median(variants[0].runs[path])
        ratio = mine.requests_per_s / base.requests_per_s
        target = f">= {ratio_target:g}x" + (f", p99 <= {p99_target:g} ms" if p99_target else "")
        rows.append((path, f"{base.requests_per_s:,.0f} req/s, p99 {base.p99_ms:.0f} ms",
                     f"{mine.requests_per_s:,.0f} req/s ({ratio:.2f}x), p99 {mine.p99_ms:.0f} ms", target))
    return rows


def _dispatch(quick: bool) -> list[tuple[str, str, str, str]]:
    argv = ["--warm", "60", "--idle", "5", "--loaded", "60", "--idle-cpu-seconds", "5"] if quick else []
    args = bench_dispatch.build_parser().parse_args(argv)
    series, idle_cpu, sent = bench_dispatch.measure(args)
    print("\n".join(bench_dispatch.report(series, idle_cpu, sent, args)), flush=True)
    design = ">= 500 ms by design (0.5 s poll + fixed delays)"
    rows = []
    for item in series:
        rows.append((f"POST -> running, {item.name}", design, bench_dispatch.distribution(item.running),
                     "median <= 10 ms, p99 <= 50 ms"))
    warm = series[0]
    rows.append(("POST -> webhook received (no-op job)", ">= 500 ms", bench_dispatch.distribution(warm.webhook),
                 "median <= 30 ms"))
    rows.append(("idle worker CPU", "polls every 0.5 s", f"{idle_cpu:.2f} % of one core", "no busy polling"))
    return rows


def _drain(quick: bool) -> list[tuple[str, str, str, str]]:
    argv = ["--jobs", "3000"] if quick else []
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--profile", type=float, default=0.0)
    args = parser.parse_args(argv)
    result = bench_drain.measure(args)
    print("\n".join(bench_drain.report(result, args)), flush=True)
    growth = result["rss_end"] / result["rss_start"] - 1
    return [(f"drain {args.jobs:,} no-op jobs, {args.processes} worker processes", "one job per worker at a time",
             f"{result['rate']:,.0f} jobs/s ({args.threads} threads each), RSS {growth:+.1%}; CPU/job "
             f"{result['worker_cpu_ms'] + result['redis_cpu_ms']:.2f} ms",
             ">= 1,500 jobs/s, RSS growth < 10 %")]


def _gpu(quick: bool, log_path: Path) -> list[tuple[str, str, str, str]]:
    argv = [sys.executable, str(BENCH / "bench_gpu_cost.py")]
    if quick:
        argv += ["--span", "2400"]
    with open(log_path, "w") as log:
        subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT, check=False)
    text = log_path.read_text()
    print(text[text.find("\nseed "):] if "\nseed " in text else text[-3000:], flush=True)
    rows = []
    for trace, gpu, p95 in re.findall(r"seed (\w+) \d+ A [^\n]*?/ B original: GPU-seconds x([\d.]+), "
                                      r"p95 latency x([\d.]+)", text):
        rows.append((f"GPU-seconds per job, {trace} trace, simulated provider", "1.0 (p95 1.0)",
                     f"{float(gpu):.2f}x at p95 {float(p95):.2f}x", "<= 0.6x at p95 <= 1.05x"))
    return rows or [("GPU-seconds per job", "1.0", f"no result (see {log_path})", "<= 0.6x at p95 <= 1.05x")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs (smoke test of the benchmarks)")
    parser.add_argument("--skip", nargs="+", default=[], choices=["api", "dispatch", "drain", "gpu"])
    args = parser.parse_args(argv)
    print(f"C3 Render performance: {machine_info()}", flush=True)
    gpu_log = Path(tempfile.gettempdir()) / "c3-render-bench-gpu-cost.log"
    parts = {"api": lambda: _api(args.quick), "dispatch": lambda: _dispatch(args.quick),
             "drain": lambda: _drain(args.quick), "gpu": lambda: _gpu(args.quick, gpu_log)}
    rows = []
    for name, part in parts.items():
        if name not in args.skip:
            print(f"\n== {name} ==", flush=True)
            rows += part()
    header = ("path", "the original service (reference)", "C3 Render", "target")
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(4)]
    print(f"\nsummary ({machine_info()}; methods above)")
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print(" | ".join(str(cell).ljust(width) for cell, width in zip(row, widths)))
    if "gpu" not in args.skip:
        print(f"(GPU cost simulation log: {gpu_log})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
