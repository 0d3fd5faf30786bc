"""Fault injection for the chaos suite: a stack of real processes, a load of clients, a webhook
receiver that can go down or hang, and the counts each fault is judged by.

Everything listens on 127.0.0.1, on free ports; every wait is bounded.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import redis
import requests

from render_core.devtools.devservices import RedisServer, free_port
from support.servers import wait_for

TERMINAL = {"success", "failed", "timed_out", "cancelled", "expired"}


def quiet_port() -> int:
    """A free port on 127.0.0.1 below the ephemeral range: a server stopped and started again on it
    cannot find it taken by some process's outgoing connection meanwhile."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    for _ in range(200):
        port = random.randrange(max(1024, low - 12000), low)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    return free_port()


class ChaosReceiver:
    """A webhook receiver on a fixed port that can be ``down`` (connection refused), ``hang`` (read the
    request, never answer) or up (answer 200). Counts the 200s sent per job and the ``webhook-id``
    header of every request."""

    def __init__(self):
        self.port = quiet_port()
        self.lock = threading.Lock()
        self.delivered: Counter = Counter()
        self.webhook_ids: dict[str, list] = defaultdict(list)
        self.hung = 0
        self._release = threading.Event()
        self._hanging = False
        self._httpd: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def up(self) -> None:
        self._hanging = False
        self._release.set()
        if self._httpd is None:
            owner = self

            class Handler(_Handler):
                receiver = owner

            self._httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
            self._httpd.daemon_threads = True
            threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

    def down(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def hang(self) -> None:
        self._release.clear()
        self._hanging = True

    def successes(self, job_ids) -> Counter:
        with self.lock:
            return Counter({job_id: self.delivered[job_id] for job_id in job_ids})


class _Handler(BaseHTTPRequestHandler):
    receiver: ChaosReceiver

    def log_message(self, *args):
        pass

    def do_POST(self):
        owner = self.receiver
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        job_id = body.get("id", "")
        with owner.lock:
            owner.webhook_ids[job_id].append(self.headers.get("webhook-id"))
        if owner._hanging:
            with owner.lock:
                owner.hung += 1
            owner._release.wait(60)
            self.close_connection = True          # dropped without an answer
            return
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
        self.wfile.flush()
        with owner.lock:
            owner.delivered[job_id] += 1


class ChaosStack:
    """``c3-render api`` and ``c3-render worker`` (its own process group) against a redis-server with
    AOF that can be killed and restarted on the same port and data dir."""

    def __init__(self, env: dict, root: Path, *, processes: int = 1, threads: int = 8):
        self.root = root
        self.redis = RedisServer(root / "redis", port=quiet_port(), appendonly=True, appendfsync="everysec")
        self.env = {**env, "REDIS_URL": self.redis.url, "METRICS_PORT": "0"}
        self.processes, self.threads = processes, threads
        self.api: subprocess.Popen | None = None
        self.worker: subprocess.Popen | None = None
        self.api_url = ""
        self._worker_runs = 0

    def start(self) -> None:
        self.redis.start()
        self.start_api()
        self.start_worker()

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.redis.url, socket_timeout=5, socket_connect_timeout=2)

    def start_api(self) -> None:
        port = free_port()
        self.api = self._spawn(["api", "--bind", f"127.0.0.1:{port}", "--workers", "2"], "api.log")
        self.api_url = f"http://127.0.0.1:{port}"

        def ready():
            if self.api.poll() is not None:
                raise RuntimeError((self.root / "api.log").read_text())
            try:
                return requests.get(f"{self.api_url}/readyz", timeout=1).status_code == 200
            except requests.RequestException:
                return False

        wait_for(ready, timeout=30, message="the chaos API")

    def start_worker(self, **env) -> None:
        self._worker_runs += 1
        self.worker = self._spawn(["worker", "--processes", str(self.processes), "--threads", str(self.threads),
                                   "--shutdown-timeout", "5"], f"worker-{self._worker_runs}.log", env)

    def kill_workers(self) -> None:
        """SIGKILL the worker's whole process group (the CLI and every Dramatiq process)."""
        os.killpg(self.worker.pid, signal.SIGKILL)
        self.worker.wait(10)

    def shutdown_redis(self) -> None:
        """A graceful restart's first half: SHUTDOWN (Redis writes its AOF and exits)."""
        try:
            self.client().shutdown()
        except redis.ConnectionError:
            pass
        self.redis.process.wait(20)

    def stop(self) -> None:
        for process in (self.worker, self.api):
            if process is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
        self.redis.stop()

    def _spawn(self, args, log_name: str, env: dict | None = None) -> subprocess.Popen:
        with open(self.root / log_name, "wb") as log:
            return subprocess.Popen([sys.executable, "-m", "render_core.cli", *args], env={**self.env, **(env or {})},
                                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


class Load:
    """``clients`` threads each submitting ``rate`` no-op jobs per second until stopped."""

    def __init__(self, api_url: str, notify_url: str, *, clients: int = 4, rate: float = 15.0):
        self.api_url, self.notify_url = api_url, notify_url
        self.clients, self.rate = clients, rate
        self.accepted: list[str] = []
        self.answers: Counter = Counter()
        self.unavailable_json = 0
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def __enter__(self):
        for n in range(self.clients):
            thread = threading.Thread(target=self._client, name=f"chaos-client-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for thread in self._threads:
            thread.join(30)

    def _client(self) -> None:
        session = requests.Session()
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                answer = session.post(f"{self.api_url}/echo", json={"message": "chaos", "notify_url": self.notify_url},
                                      timeout=15)
                outcome = answer.status_code
            except requests.RequestException as exc:
                answer, outcome = None, type(exc).__name__
            with self._lock:
                self.answers[outcome] += 1
                if outcome == 200:
                    self.accepted.append(answer.json()["id"])
                elif outcome == 503 and answer.headers.get("content-type", "").startswith("application/json") \
                        and answer.json().get("title"):
                    self.unavailable_json += 1
            self._stop.wait(max(0.0, 1 / self.rate - (time.monotonic() - started)))


@dataclass
class Outcome:
    """How the accepted jobs of one fault ended."""

    accepted: int
    statuses: Counter
    missing: list[str]
    open: list[str]
    recovered_s: float
    delivered: Counter = field(default_factory=Counter)
    webhooks_s: float = 0.0

    @property
    def terminal(self) -> int:
        return sum(n for s, n in self.statuses.items() if s in TERMINAL)

    @property
    def duplicates(self) -> int:
        return sum(n - 1 for n in self.delivered.values() if n > 1)

    @property
    def undelivered(self) -> int:
        return sum(1 for n in self.delivered.values() if n == 0)

    def line(self, name: str, **extra) -> str:
        parts = [f"accepted {self.accepted}", f"terminal {self.terminal}", f"non-terminal {len(self.open)}",
                 f"lost {len(self.missing)}", f"webhooks delivered {sum(1 for n in self.delivered.values() if n)}",
                 f"duplicates delivered {self.duplicates}", f"recovered in {self.recovered_s:.1f} s",
                 f"webhooks done in {self.webhooks_s:.1f} s", *(f"{k} {v}" for k, v in extra.items())]
        return f"chaos {name}: " + ", ".join(parts)


def statuses(client: redis.Redis, job_ids: list[str]) -> dict[str, str | None]:
    with client.pipeline(transaction=False) as pipe:
        for job_id in job_ids:
            pipe.hget(f"c3render:job:{job_id}", "status")
        values = pipe.execute()
    return {job_id: (v.decode() if v else None) for job_id, v in zip(job_ids, values)}


def settle(stack: ChaosStack, receiver: ChaosReceiver, job_ids: list[str], since: float, *,
           timeout: float = 90.0) -> Outcome:
    """Wait (at most ``timeout`` s) until every job is terminal or gone and every terminal job's webhook was
    answered 200 with nothing left in the outbox; ``since``: monotonic time the fault ended."""
    client = stack.client()
    deadline = time.monotonic() + timeout
    recovered = None
    while True:
        now = time.monotonic()
        current = statuses(client, job_ids)
        open_ = [j for j, s in current.items() if s is not None and s not in TERMINAL]
        if not open_ and recovered is None:
            recovered = now - since
        landed = [j for j, s in current.items() if s in TERMINAL]
        delivered = receiver.successes(landed)
        if recovered is not None and all(delivered.values()) and client.zcard("c3render:webhooks:due") == 0:
            break
        if now > deadline:
            break
        time.sleep(0.25)
    time.sleep(1.0)                                  # let a late duplicate show up
    missing = [j for j, s in current.items() if s is None]
    return Outcome(accepted=len(job_ids), statuses=Counter(s for s in current.values() if s), missing=missing,
                   open=open_, recovered_s=recovered if recovered is not None else float("nan"),
                   delivered=receiver.successes(landed), webhooks_s=time.monotonic() - 1.0 - since)
