"""How many ``Prefer: wait`` requests one API process holds, and at what cost.

Starts a throwaway Redis and one API process (``c3-render api --workers 1 --threads T``, gunicorn
gthread), stores N queued jobs (no worker: they stay queued), opens N raw HTTP connections that
each send ``GET /status/{id}`` with ``Prefer: wait=60``, and while they wait measures the API
process's threads and resident memory, Redis commands per second and clients, and the latency
of a request that does not wait. Then it finishes every job (one Lua script each, which
publishes the id) and measures how long until every waiting request has its answer.

Run: python bench/bench_waits.py [N] [THREADS] [gunicorn|granian]   (from the repo root; figures are
printed, not asserted). ``granian`` serves the same WSGI app with ``--blocking-threads THREADS``
(needs ``pip install granian``).
"""

from __future__ import annotations

import os
import select
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import requests  # noqa: E402

from bench.machine import machine_info  # noqa: E402
from render_core.config.settings import Settings  # noqa: E402
from render_core.devtools.devservices import RedisServer, free_port  # noqa: E402
from render_core.jobs import status as st  # noqa: E402
from render_core.jobs.store import JobStore  # noqa: E402
from render_core.net.redis_client import connect  # noqa: E402


def proc_status(pid: int) -> dict:
    """Threads and VmRSS (MiB) of a process."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name == "Threads":
            values["threads"] = int(rest)
        elif name == "VmRSS":
            values["rss_mib"] = int(rest.split()[0]) / 1024
    return values


def worker_pid(master: int) -> int:
    """The pid of gunicorn's (single) worker process under ``master``."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        if children:
            return int(children[0])
        time.sleep(0.1)
    raise RuntimeError("gunicorn started no worker")


def commands_processed(client) -> int:
    return int(client.info("stats")["total_commands_processed"])


def server_command(server: str, port: int, threads: int) -> list[str]:
    if server == "granian":
        return [sys.executable, "-m", "granian", "--interface", "wsgi", "--host", "127.0.0.1", "--port", str(port),
                "--workers", "1", "--blocking-threads", str(threads), "--backpressure", str(threads),
                "render_api.wsgi:app"]
    return [sys.executable, "-m", "render_core.cli", "api", "--bind", f"127.0.0.1:{port}", "--workers", "1",
            "--threads", str(threads)]


def main(count: int, threads: int, server: str) -> None:
    print(f"# {machine_info()}")
    kind = "granian wsgi, --blocking-threads" if server == "granian" else "gunicorn gthread,"
    print(f"# {kind} 1 process, {threads} threads, API_MAX_WAITS={max(threads - 16, 0)}; "
          f"{count} waiting requests")
    with tempfile.TemporaryDirectory() as tmp, RedisServer(Path(tmp) / "redis") as redis_server:
        port = free_port()
        env = {**os.environ, "REDIS_URL": redis_server.url, "C3_RENDER_PLUGINS": "echo",
               "PROMETHEUS_MULTIPROC_DIR": str(Path(tmp) / "metrics"), "LOG_LEVEL": "WARNING"}
        env["API_MAX_WAITS"] = str(max(threads - 16, 0))
        Path(env["PROMETHEUS_MULTIPROC_DIR"]).mkdir()
        api = subprocess.Popen(server_command(server, port, threads), env=env,
                               stdout=subprocess.DEVNULL, stderr=open(Path(tmp) / "api.log", "wb"))
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    if requests.get(f"{base}/readyz", timeout=1).status_code == 200:
                        break
                except requests.RequestException:
                    pass
                if time.monotonic() > deadline or api.poll() is not None:
                    raise RuntimeError((Path(tmp) / "api.log").read_text())
                time.sleep(0.2)
            pid = worker_pid(api.pid)
            client = connect(redis_server.url)
            store = JobStore(client, Settings().job_ttl)
            params = {"message": "x", "complete_in": 3600, "max_time": 600}
            ids = []
            with client.pipeline() as pipe:
                for _ in range(count):
                    record = store.new_record("echo", params)
                    store.create(record, pipe)
                    ids.append(record["id"])
                pipe.execute()
            requests.get(f"{base}/status/{ids[0]}", timeout=5)  # warm the process up
            idle = proc_status(pid)

            sockets = []
            for job_id in ids:
                sock = socket.create_connection(("127.0.0.1", port))
                sock.sendall(f"GET /status/{job_id} HTTP/1.1\r\nHost: bench\r\nPrefer: wait=60\r\n"
                             f"Connection: close\r\n\r\n".encode())
                sockets.append(sock)
            time.sleep(3 + count / 200)  # every request reached its wait
            holding = proc_status(pid)
            before = commands_processed(client)
            time.sleep(5)
            per_second = (commands_processed(client) - before - 1) / 5
            clients = client.info("clients")["connected_clients"]
            probes = []
            for _ in range(20):
                started = time.perf_counter()
                requests.get(f"{base}/status/{ids[0]}", timeout=30)
                probes.append(time.perf_counter() - started)
            answered_early = sum(1 for sock in sockets if select.select([sock], [], [], 0)[0])

            started = time.perf_counter()
            for job_id in ids:
                store.transition(job_id, st.RUNNING)
                store.transition(job_id, st.SUCCESS, text="done")
            finished = time.perf_counter() - started
            pending = {s.fileno(): s for s in sockets}
            received = {s.fileno(): b"" for s in sockets}
            answered = []
            while pending and time.perf_counter() - started < 70:
                ready, _, _ = select.select(list(pending.values()), [], [], 1)
                for sock in ready:
                    data = sock.recv(65536)
                    received[sock.fileno()] += data
                    if not data:  # Connection: close: the answer is complete
                        answered.append((time.perf_counter() - started, b'"success"' in received[sock.fileno()]))
                        del pending[sock.fileno()]
                        sock.close()
            ok = sum(1 for _, success in answered if success)
            others = [body for body in received.values() if b'"success"' not in body]
            if others:
                errors = [line for line in (Path(tmp) / "api.log").read_text().splitlines() if "rror" in line]
                print(f"{len(others)} answers were not success (over API_MAX_WAITS they are answered at once), "
                      f"e.g. ...{others[0][-120:]!r}; API errors logged: {errors[-3:]}")
            last = max((t for t, _ in answered), default=float("nan"))
            print(f"api worker idle:     {idle['threads']} threads, {idle['rss_mib']:.1f} MiB RSS")
            print(f"holding {count} waits: {holding['threads']} threads, {holding['rss_mib']:.1f} MiB RSS "
                  f"(+{(holding['rss_mib'] - idle['rss_mib']) * 1024 / max(count, 1):.0f} KiB per wait)")
            print(f"redis while waiting: {per_second:.1f} commands/s, {clients} clients connected "
                  f"(bench + API pool + 1 subscriber)")
            print(f"a status request while {count} wait: median {statistics.median(probes) * 1000:.1f} ms, "
                  f"max {max(probes) * 1000:.1f} ms (n={len(probes)})")
            print(f"answered before any job ended (not held: over API_MAX_WAITS): {answered_early}")
            print(f"finishing {count} jobs took {finished:.2f} s; all {ok}/{count} answered success "
                  f"{last:.2f} s after the first finish")
        finally:
            api.terminate()
            try:
                api.wait(40)
            except subprocess.TimeoutExpired:
                api.kill()
                api.wait()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200, int(sys.argv[2]) if len(sys.argv) > 2 else 256,
         sys.argv[3] if len(sys.argv) > 3 else "gunicorn")
