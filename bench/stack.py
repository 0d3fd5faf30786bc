"""A throwaway C3 Render stack for the dispatch and drain benchmarks: Redis, S3, API, worker, webhook receiver."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

from render_core.devtools.devservices import RedisServer, S3Server, free_port  # noqa: E402

ACCESS_KEY, SECRET_KEY, BUCKET = "benchaccess", "benchsecret-0123456789", "c3-render-bench"


class Receiver:
    """A webhook receiver on 127.0.0.1: records when each job's webhook arrived (time.time())."""

    def __init__(self):
        self.arrived: dict[str, float] = {}
        self.events: dict[str, threading.Event] = {}
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                now = time.time()
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                owner.record(body.get("id", ""), now)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/hook"

    def expect(self, job_id: str) -> threading.Event:
        with self.lock:
            return self.events.setdefault(job_id, threading.Event())

    def record(self, job_id: str, at: float) -> None:
        with self.lock:
            self.arrived.setdefault(job_id, at)
            event = self.events.setdefault(job_id, threading.Event())
        event.set()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class Stack:
    """Redis + S3 (+ API, workers started on demand) in a temporary directory; a context manager."""

    def __init__(self, plugins: str = "echo", extra_env: dict | None = None):
        self.tmp = Path(tempfile.mkdtemp(prefix="c3-bench-"))
        self.redis = RedisServer(self.tmp / "redis")
        self.s3 = S3Server(self.tmp / "s3", access_key=ACCESS_KEY, secret_key=SECRET_KEY, bucket=BUCKET)
        self.processes: list[subprocess.Popen] = []
        self.plugins = plugins
        self.extra_env = extra_env or {}
        self.env: dict[str, str] = {}

    def __enter__(self) -> "Stack":
        self.redis.start()
        self.s3.start()
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("C3_", "MINIO_", "REDIS_", "PROMETHEUS_", "GPU_"))}
        self.env.update({
            "REDIS_URL": self.redis.url, "MINIO_ENDPOINT": self.s3.endpoint, "MINIO_ACCESS_KEY": ACCESS_KEY,
            "MINIO_SECRET_KEY": SECRET_KEY, "MINIO_BUCKET": BUCKET, "MINIO_SECURE": "false",
            "OUTPUT_DIR": str(self.tmp / "output"), "C3_ALLOW_LOOPBACK_URLS": "true",
            "C3_RENDER_PLUGINS": self.plugins, "LOG_LEVEL": "WARNING", "C3_RENDER_ALLOW_OPEN": "true",
            **self.extra_env,
        })
        return self

    def __exit__(self, *exc) -> None:
        for process in reversed(self.processes):
            self.stop(process)
        self.s3.stop()
        self.redis.stop()

    def _spawn(self, args: list[str], name: str, env: dict | None = None) -> subprocess.Popen:
        log = open(self.tmp / f"{name}.log", "ab")
        process = subprocess.Popen([sys.executable, "-m", "render_core.cli", *args], env=env or self.env,
                                   stdout=log, stderr=subprocess.STDOUT)
        self.processes.append(process)
        return process

    def start_api(self, *args: str) -> str:
        port = free_port()
        process = self._spawn(["api", "--bind", f"127.0.0.1:{port}", "--no-access-log", *args], "api")
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise SystemExit("the API exited: " + (self.tmp / "api.log").read_text()[-2000:])
            try:
                if requests.get(url + "/readyz", timeout=1).status_code == 200:
                    return url
            except requests.RequestException:
                time.sleep(0.2)
        raise SystemExit("the API did not become ready")

    def start_worker(self, processes: int = 1, threads: int = 4, env: dict | None = None) -> subprocess.Popen:
        args = ["worker", "--processes", str(processes), "--threads", str(threads), "--metrics-port", "0"]
        return self._spawn(args, "worker", {**self.env, **(env or {})})

    @staticmethod
    def stop(process: subprocess.Popen) -> None:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def log_tail(self, name: str) -> str:
        path = self.tmp / f"{name}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""


def children(pid: int) -> list[int]:
    """The direct child processes of ``pid``."""
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return [int(p) for p in out]


def process_tree(pid: int) -> list[int]:
    """``pid`` and every process below it."""
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        todo.extend(children(current))
    return pids


def rss_mb(pids: list[int]) -> float:
    """Resident memory of ``pids`` together, MiB."""
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds used so far by ``pids``."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
        except OSError:
            pass
    return total
