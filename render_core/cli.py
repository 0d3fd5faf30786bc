"""``c3-render``: the command line (api, worker, dev, plugins; submit, status, result, cancel, jobs)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

from render_core.client import commands as job_commands
from render_core.config.settings import Settings, SettingsError

API_APP = "render_api.wsgi:app"
#: Threads of one API process left for requests that do not wait (``Prefer: wait``).
API_SPARE_THREADS = 16
WORKER_MODULE = "render_core.worker.boot:boot"


def _settings_or_exit() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as exc:
        print(f"c3-render: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def _use_multiprocess_metrics(role: str) -> None:
    """Point PROMETHEUS_MULTIPROC_DIR at a clean directory before any process imports prometheus_client."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = os.path.join(tempfile.gettempdir(),
                                                              f"c3-render-{role}-metrics-{os.getpid()}")
    from render_core.obs.export import prepare_multiprocess_dir

    prepare_multiprocess_dir()


def cmd_api(args: argparse.Namespace, extra: list[str]) -> int:
    """Serve the API with gunicorn's threaded workers (extra arguments go to gunicorn).

    Each process gets ``--threads`` threads; at most threads - 16 of them hold ``Prefer: wait``
    requests (API_MAX_WAITS, unless set), so waits never starve other requests.
    """
    os.environ.setdefault("API_MAX_WAITS", str(max(args.threads - API_SPARE_THREADS, 0)))
    _settings_or_exit()
    _use_multiprocess_metrics("api")
    argv = [sys.executable, "-m", "gunicorn", "--bind", args.bind, "--workers", str(args.workers),
            "--worker-class", "gthread", "--threads", str(args.threads),
            "--worker-connections", str(max(1000, 2 * args.threads)),
            "--timeout", "90", "--graceful-timeout", "30", "--access-logfile", "-", *extra, API_APP]
    os.execv(sys.executable, argv)
    return 0  # not reached


def cmd_worker(args: argparse.Namespace, extra: list[str]) -> int:
    """Run Dramatiq workers on the task and webhook queues (extra arguments go to dramatiq)."""
    settings = _settings_or_exit()
    os.environ.setdefault("dramatiq_worker_timeout", str(settings.worker_idle_poll_ms))
    os.environ.setdefault("dramatiq_queue_prefetch", str(args.threads))  # one message per thread, no hoarding
    os.environ["WORKER_THREADS"] = str(args.threads)
    _use_multiprocess_metrics("worker")
    from dramatiq.cli import main as dramatiq_main
    from dramatiq.cli import make_argument_parser

    from render_core.obs.export import serve_metrics

    if args.metrics_port:
        serve_metrics(args.metrics_port, args.metrics_bind)

    argv = [WORKER_MODULE, "--processes", str(args.processes), "--threads", str(args.threads),
            "--worker-shutdown-timeout", str(int(args.shutdown_timeout * 1000)), *extra]
    return dramatiq_main(make_argument_parser().parse_args(argv))


def cmd_plugins(args: argparse.Namespace, extra: list[str]) -> int:
    """List loaded plugins with version and tasks."""
    from render_core.sdk.registry import load_registry

    registry = load_registry()
    infos = registry.plugins()
    if args.json:
        print(json.dumps([{"name": i.name, "version": i.version, "tasks": list(i.tasks),
                           "providers": list(i.providers)} for i in infos], indent=2))
    else:
        for info in infos:
            offers = [*(f"task {t}" for t in info.tasks), *(f"provider {p}" for p in info.providers)]
            print(f"{info.name} {info.version or '-'}: {', '.join(offers) or '(nothing)'}")
    return 0


def cmd_dev(args: argparse.Namespace, extra: list[str]) -> int:
    """Run Redis, an S3 server, the API and a worker in the foreground until Ctrl-C."""
    from render_core.devtools.dev import run_dev

    return run_dev(data_dir=args.data_dir, port=args.port)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="c3-render", description="C3 Render job service.")
    commands = parser.add_subparsers(dest="command", required=True)
    api = commands.add_parser("api", help="serve the HTTP API with gunicorn")
    api.add_argument("--bind", default=os.environ.get("API_BIND", "0.0.0.0:5000"))
    api.add_argument("--workers", type=int, default=int(os.environ.get("API_WORKERS", "2")))
    api.add_argument("--threads", type=int, default=int(os.environ.get("API_THREADS", "256")),
                     help="threads per API process (requests served at once, waits included)")
    api.set_defaults(func=cmd_api)
    worker = commands.add_parser("worker", help="run job workers (dramatiq flags pass through)")
    worker.add_argument("--processes", type=int, default=int(os.environ.get("WORKER_PROCESSES", "1")))
    worker.add_argument("--threads", type=int, default=int(os.environ.get("WORKER_THREADS", "4")))
    worker.add_argument("--shutdown-timeout", type=float,
                        default=float(os.environ.get("WORKER_SHUTDOWN_TIMEOUT", "1860")),
                        help="seconds running jobs get to finish on SIGTERM (longer than MAX_RENDER_TIME)")
    worker.add_argument("--metrics-port", type=int, default=int(os.environ.get("METRICS_PORT", "9300")),
                        help="port of this worker's /metrics (0 = off)")
    worker.add_argument("--metrics-bind", default=os.environ.get("METRICS_BIND", "0.0.0.0"))
    worker.set_defaults(func=cmd_worker)
    dev = commands.add_parser("dev", help="everything on this machine, in the foreground")
    dev.add_argument("--data-dir", default=os.environ.get("C3_DEV_DIR", ".c3-render"))
    dev.add_argument("--port", type=int, default=5000)
    dev.set_defaults(func=cmd_dev)
    plugins = commands.add_parser("plugins", help="list loaded plugins")
    plugins.add_argument("--json", action="store_true")
    plugins.set_defaults(func=cmd_plugins)
    job_commands.add_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args, extra = build_parser().parse_known_args(argv)
    if extra and args.command not in ("api", "worker"):
        build_parser().error(f"unrecognized arguments: {' '.join(extra)}")
    if getattr(args, "job_command", None) is not None:
        return job_commands.run(args.job_command, args)
    return args.func(args, extra) or 0


if __name__ == "__main__":
    raise SystemExit(main())
