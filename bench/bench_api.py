"""API throughput: C3 Render's API against the reference (the replaced service's Flask app), side by side.

Usage: python bench/bench_api.py [--seconds 10] [--rounds 2] [--connections 32]
           [--c3 "--workers 2"] [--c3 "--server gunicorn --workers 4" ...]

Method (figures are printed, never asserted):
- One throwaway redis-server (render_core.devtools.devservices.RedisServer) serves both APIs.
- The reference: bench/reference_api.py (Flask, ``gunicorn -w 4`` sync workers: parse the
  JSON, check the fields, HSET the job hash, RPUSH its id; GET /status = one HGETALL).
- C3 Render: ``c3-render api`` with each ``--c3`` argument set (default: the shipped
  default server with 2 workers), started from the installed CLI as it is deployed, no API key.
- All servers run at the same time in this process tree; they are loaded one after the
  other by the same wrk (Debian's package; -t2 -c32 10 s keep-alive, --latency), POST /csm
  with the same small JSON body, then GET /status/<id> of a queued job. Each round loads
  every server once; the table shows each round and the median of the rounds.
- The machine has 2 cores, shared by wrk, Redis and the server under load (and by other
  users of the machine: repeat and compare rounds).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis
import requests

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(ROOT), str(BENCH)]

from machine import machine_info  # noqa: E402
from render_core.devtools.devservices import RedisServer, free_port  # noqa: E402
from wrk_load import WrkResult, ensure_wrk, run_wrk  # noqa: E402

POST_BODY = json.dumps({"text": "Hello from the benchmark.", "max_time": 600, "complete_in": 1800})
REFERENCE = "reference (Flask, gunicorn -w 4 sync)"
TARGETS = {"POST /csm": (4.0, 30.0), "GET /status/{id}": (3.0, None)}


@dataclass
class Server:
    """One API under test: its label, base URL, process and runs per path."""

    label: str
    url: str
    process: subprocess.Popen
    runs: dict[str, list[WrkResult]] = field(default_factory=dict)


def _wait_ready(server: Server, path: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise SystemExit(f"{server.label} exited with {server.process.returncode}")
        try:
            if requests.get(server.url + path, timeout=1).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{server.label} did not answer {path} within {timeout:.0f} s")


def _start_reference(env: dict, log_dir: Path) -> Server:
    port = free_port()
    log = open(log_dir / "reference.log", "wb")
    process = subprocess.Popen([sys.executable, "-m", "gunicorn", "-w", "4", "--bind", f"127.0.0.1:{port}",
                                "--chdir", str(BENCH), "reference_api:app"], env=env, stdout=log,
                               stderr=subprocess.STDOUT)
    server = Server(REFERENCE, f"http://127.0.0.1:{port}", process)
    _wait_ready(server, "/status/none")
    return server


def _start_c3(env: dict, log_dir: Path, args: str, index: int) -> Server:
    port = free_port()
    log = open(log_dir / f"c3-{index}.log", "wb")
    argv = [sys.executable, "-m", "render_core.cli", "api", "--bind", f"127.0.0.1:{port}", *shlex.split(args)]
    process = subprocess.Popen(argv, env={**env, "PROMETHEUS_MULTIPROC_DIR": str(log_dir / f"metrics-{index}")},
                               stdout=log, stderr=subprocess.STDOUT)
    server = Server(f"C3 Render (c3-render api {args})".replace(" )", ")"), f"http://127.0.0.1:{port}", process)
    _wait_ready(server, "/readyz")
    return server


def _stop(server: Server) -> None:
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(30)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()


def _queued_job(server: Server) -> str:
    answer = requests.post(server.url + "/csm", data=POST_BODY, headers={"Content-Type": "application/json"},
                           timeout=5)
    answer.raise_for_status()
    return answer.json()["id"]


def _median(runs: list[WrkResult]) -> WrkResult:
    return WrkResult(statistics.median(r.requests_per_s for r in runs), statistics.median(r.p50_ms for r in runs),
                     statistics.median(r.p99_ms for r in runs), sum(r.errors for r in runs),
                     sum(r.requests for r in runs))


def _cell(result: WrkResult) -> str:
    errors = f", {result.errors} errors" if result.errors else ""
    return f"{result.requests_per_s:,.0f} req/s, p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms{errors}"


def measure(c3_args: list[str], *, seconds: float = 10.0, rounds: int = 2, connections: int = 32,
            threads: int = 2) -> tuple[Server, list[Server]]:
    """Run every server under wrk for ``rounds`` rounds; returns (reference, C3 Render variants)."""
    ensure_wrk()
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        tmp_path = Path(tmp)
        with RedisServer(tmp_path / "redis") as redis_server:
            env = {**os.environ, "REDIS_URL": redis_server.url, "C3_RENDER_API_KEY": "", "C3_RENDER_ALLOW_OPEN": "true"}
            servers: list[Server] = []
            try:
                reference = _start_reference(env, tmp_path)
                servers.append(reference)
                for index, args in enumerate(c3_args):
                    servers.append(_start_c3(env, tmp_path, args, index))
                client = redis.Redis.from_url(redis_server.url)
                for round_number in range(rounds):
                    for server in servers:
                        client.flushdb()
                        post = run_wrk(server.url + "/csm", method="POST", body=POST_BODY, threads=threads,
                                       connections=connections, seconds=seconds)
                        job_id = _queued_job(server)
                        get = run_wrk(f"{server.url}/status/{job_id}", threads=threads, connections=connections,
                                      seconds=seconds)
                        server.runs.setdefault("POST /csm", []).append(post)
                        server.runs.setdefault("GET /status/{id}", []).append(get)
                        print(f"  round {round_number + 1} {server.label}: POST {_cell(post)}; GET {_cell(get)}",
                              flush=True)
            finally:
                for server in servers:
                    _stop(server)
    return servers[0], servers[1:]


def report(reference: Server, variants: list[Server], *, seconds: float, rounds: int, connections: int,
           threads: int) -> list[str]:
    """The table: per path, the reference's median, each variant's median and ratio, the target."""
    lines = [f"machine: {machine_info()}",
             f"method: wrk -t{threads} -c{connections} -d{seconds:g}s --latency, keep-alive; one throwaway "
             f"redis-server for all; servers loaded one after the other, {rounds} round(s), medians shown",
             ""]
    for path, (ratio_target, p99_target) in TARGETS.items():
        base = _median(reference.runs[path])
        lines.append(f"{path}")
        lines.append(f"  {reference.label:<58} {_cell(base)}")
        for variant in variants:
            mine = _median(variant.runs[path])
            ratio = mine.requests_per_s / base.requests_per_s
            per_round = " / ".join(f"{r.requests_per_s:,.0f}" for r in variant.runs[path])
            lines.append(f"  {variant.label:<58} {_cell(mine)}  = {ratio:.2f}x (rounds: {per_round} req/s)")
        target = f">= {ratio_target:g}x the reference" + (f", p99 <= {p99_target:g} ms" if p99_target else "")
        lines.append(f"  target: {target}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--c3", action="append", help="arguments of one `c3-render api` variant (repeatable)")
    args = parser.parse_args(argv)
    c3_args = args.c3 or ["--workers 2"]
    print(f"API benchmark: {machine_info()}", flush=True)
    reference, variants = measure(c3_args, seconds=args.seconds, rounds=args.rounds,
                                  connections=args.connections, threads=args.threads)
    print("\n".join(report(reference, variants, seconds=args.seconds, rounds=args.rounds,
                           connections=args.connections, threads=args.threads)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
