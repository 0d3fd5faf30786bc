"""Print start-up / stop times (seconds) and resident memory (MiB) of the dev Redis and S3 servers.

Run: python bench/devservices_startup.py [runs]   (from the repo root; figures are printed, not asserted)
"""

import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from render_core.devtools.devservices import RedisServer, S3Server, find_redis_server, find_weed  # noqa: E402

MIB = 1024 * 1024


def rss_mib(pid: int) -> float:
    """Resident set size of a process, in MiB (from /proc/PID/status, which reports kB)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def timed(action) -> float:
    """Seconds taken by ``action()``."""
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def summary(values: list[float]) -> str:
    return f"median {statistics.median(values):.2f} s (min {min(values):.2f}, max {max(values):.2f}, n={len(values)})"


def bench_redis(runs: int) -> None:
    print(f"redis-server: {find_redis_server()}")
    starts, stops = [], []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            server = RedisServer(Path(tmp), appendonly=True)
            starts.append(timed(server.start))
            rss = rss_mib(server.process.pid)
            stops.append(timed(server.stop))
    print(f"  start (until PING answers): {summary(starts)}")
    print(f"  stop (SIGTERM until exit):  {summary(stops)}")
    print(f"  RSS idle: {rss:.1f} MiB")


def bench_s3(runs: int) -> None:
    print(f"weed: {find_weed()}")
    cold, warm, stops = [], [], []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            server = S3Server(Path(tmp), "bench-key", "bench-secret", bucket="renders")
            cold.append(timed(server.start))
            stops.append(timed(server.stop))
            warm.append(timed(server.start))  # same data dir, bucket already there
            idle_rss = rss_mib(server.process.pid)
            client = server.client()
            payload = b"\x5a" * MIB
            for index in range(20):
                client.put_object("renders", f"bench/{index}.bin", io.BytesIO(payload), len(payload))
            for index in range(20):
                response = client.get_object("renders", f"bench/{index}.bin")
                response.read()
                response.close()
                response.release_conn()
            busy_rss = rss_mib(server.process.pid)
            server.stop()
    print(f"  start, new data dir (until signed ListBuckets works + bucket made): {summary(cold)}")
    print(f"  start, existing data dir:                                         {summary(warm)}")
    print(f"  stop (SIGTERM until exit):                                        {summary(stops)}")
    print(f"  RSS idle: {idle_rss:.1f} MiB; after 20 x 1 MiB put + get: {busy_rss:.1f} MiB")


if __name__ == "__main__":
    run_count = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    bench_redis(run_count)
    bench_s3(run_count)
