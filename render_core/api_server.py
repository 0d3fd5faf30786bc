"""How ``c3-render api`` serves the WSGI app: granian (default) or gunicorn.

granian (a Rust HTTP server with a WSGI interface) answers POST /csm and
GET /status several times faster than gunicorn's sync workers on the same
cores (bench/bench_api.py). Both keep what the service relies on: worker
processes supervised and respawned, graceful reload on SIGHUP and graceful
stop on SIGTERM (in-flight requests finish within ``graceful_timeout``), an
optional access log (off by default: granian's costs ~40 % of POST throughput; the
request metrics count and time every request), and the request body limit, which the app enforces
(MAX_BODY_BYTES -> 413 before a body is parsed). ``threads`` are the request
threads of each worker process: requests that wait (``Prefer: wait``) hold one each;
granian starts them on demand and lets idle ones go.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

API_APP = "render_api.wsgi:app"
SERVERS = ("granian", "gunicorn")


@dataclass(frozen=True)
class ServerOptions:
    """Parameters:
      server: "granian" or "gunicorn".
      bind: "host:port" ("[::]:port" for IPv6).
      workers: worker processes.
      threads: request threads per worker process.
      access_log: log one line per request.
      graceful_timeout: seconds in-flight requests get on stop or reload.
    """

    server: str = "granian"
    bind: str = "0.0.0.0:5000"
    workers: int = 2
    threads: int = 256
    access_log: bool = False
    graceful_timeout: float = 30.0


def split_bind(bind: str) -> tuple[str, int]:
    """("host", port) of "host:port" or "[v6]:port"; ValueError when it is neither."""
    host, sep, port = bind.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"--bind {bind!r}: expected host:port")
    return host.strip("[]") or "0.0.0.0", int(port)


def server_argv(options: ServerOptions, extra: list[str] = (), app: str = API_APP) -> list[str]:
    """The command that serves ``app`` as ``options`` say; ``extra`` goes to the server."""
    if options.server == "granian":
        host, port = split_bind(options.bind)
        return [sys.executable, "-m", "granian", "--interface", "wsgi", "--host", host, "--port", str(port),
                "--workers", str(options.workers), "--blocking-threads", str(options.threads),
                "--respawn-failed-workers", "--workers-kill-timeout", f"{options.graceful_timeout:g}",
                "--no-ws", "--access-log" if options.access_log else "--no-access-log", *extra, app]
    if options.server == "gunicorn":
        log = ["--access-logfile", "-"] if options.access_log else []
        return [sys.executable, "-m", "gunicorn", "--bind", options.bind, "--workers", str(options.workers),
                "--worker-class", "gthread", "--threads", str(options.threads),
                "--worker-connections", str(max(1000, 2 * options.threads)), "--timeout", "90",
                "--graceful-timeout", f"{options.graceful_timeout:g}", *log, *extra, app]
    raise ValueError(f"unknown API server {options.server!r} (expected one of {', '.join(SERVERS)})")
