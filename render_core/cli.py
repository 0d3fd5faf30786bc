"""``c3-render``: the command line (api, worker, dev, plugins, settings; submit, status, result, cancel, jobs)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

from render_core.api_server import SERVERS, ServerOptions, server_argv
from render_core.client import commands as job_commands
from render_core.config.settings import Settings, SettingsError, check_plugin_settings

#: Threads of one API process left for requests that do not wait (``Prefer: wait``).
API_SPARE_THREADS = 16
WORKER_MODULE = "render_core.worker.boot:boot"


def _settings_or_exit() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as exc:
        print(f"c3-render: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def _use_multiprocess_metrics(settings: Settings, role: str) -> str:
    """Point PROMETHEUS_MULTIPROC_DIR at a clean directory before any process imports prometheus_client.

    The variable is set in this process's environment because prometheus_client
    (here and in the processes started from here) reads it itself.
    """
    path = settings.prometheus_multiproc_dir or os.path.join(tempfile.gettempdir(),
                                                             f"c3-render-{role}-metrics-{os.getpid()}")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    from render_core.obs.export import prepare_multiprocess_dir

    return prepare_multiprocess_dir(path)


def cmd_api(args: argparse.Namespace, extra: list[str]) -> int:
    """Serve the API with granian (default) or gunicorn (extra arguments go to the server).

    Each process gets ``--threads`` request threads; at most threads - 16 of them hold
    ``Prefer: wait`` requests (API_MAX_WAITS, unless set), so waits never starve other requests.
    """
    settings = _settings_or_exit()
    try:
        settings.check_api_access()  # no key and no C3_RENDER_ALLOW_OPEN: refuse to start open by accident
    except SettingsError as exc:
        print(f"c3-render: configuration error: {exc}", file=sys.stderr)
        return 2
    threads = args.threads or settings.api_threads
    # The API processes take their wait limit from it (Settings).
    os.environ.setdefault("API_MAX_WAITS", str(max(threads - API_SPARE_THREADS, 0)))
    options = ServerOptions(server=args.server or settings.api_server, bind=args.bind or settings.api_bind,
                            workers=args.workers or settings.api_workers, threads=threads,
                            access_log=settings.api_access_log if args.access_log is None else args.access_log)
    try:
        argv = server_argv(options, extra)
    except ValueError as exc:
        print(f"c3-render: {exc}", file=sys.stderr)
        return 2
    _use_multiprocess_metrics(settings, "api")
    _plugins_or_exit(settings)  # after the metrics directory is set: a plugin may import prometheus_client
    os.execv(sys.executable, argv)
    return 0  # not reached


def _plugin_problems(registry, *, with_settings: bool) -> list[str]:
    """Every problem of the plugins, one line each: import, API range, hooks, tasks, and (``with_settings``)
    the values of the variables they declare."""
    problems = [str(problem) for problem in registry.problems]
    if with_settings:
        for plugin, declared in registry.settings.items():
            try:
                check_plugin_settings({plugin: declared})
            except SettingsError as exc:
                problems.append(f"plugin {plugin!r} ({registry.loaded.origins.get(plugin, 'registered directly')}): "
                                f"configuration error: {exc}")
    return problems


def _plugins_or_exit(settings: Settings, *, with_settings: bool = False) -> None:
    """Stop start-up when a plugin fails to import, is incompatible, returns bad tasks or (``with_settings``,
    the worker) reads a variable with a bad value; each problem names the plugin and its entry point."""
    from render_core.sdk.registry import check_plugins

    problems = _plugin_problems(check_plugins(settings.render_plugins), with_settings=with_settings)
    if problems:
        for problem in problems:
            print(f"c3-render: {problem}", file=sys.stderr)
        print("c3-render: fix or uninstall the plugin, or leave it out of C3_RENDER_PLUGINS; "
              "`c3-render plugins --check` lists every problem", file=sys.stderr)
        raise SystemExit(2)


def cmd_worker(args: argparse.Namespace, extra: list[str]) -> int:
    """Run Dramatiq workers on the task and webhook queues (extra arguments go to dramatiq)."""
    settings = _settings_or_exit()
    _plugins_or_exit(settings, with_settings=True)
    processes = args.processes or settings.worker_processes
    threads = args.threads or settings.worker_threads
    shutdown_timeout = settings.worker_shutdown_timeout if args.shutdown_timeout is None else args.shutdown_timeout
    metrics_port = settings.metrics_port if args.metrics_port is None else args.metrics_port
    # Dramatiq reads these two from the environment of its worker processes.
    os.environ.setdefault("dramatiq_worker_timeout", str(settings.worker_idle_poll_ms))
    os.environ.setdefault("dramatiq_queue_prefetch", str(threads))  # one message per thread, no hoarding
    # The worker processes take their drain time from it (Settings).
    os.environ["WORKER_SHUTDOWN_TIMEOUT"] = str(shutdown_timeout)
    multiprocess_dir = _use_multiprocess_metrics(settings, "worker")
    from dramatiq.cli import main as dramatiq_main
    from dramatiq.cli import make_argument_parser

    from render_core.obs.export import serve_metrics
    from render_core.worker.middleware.shutdown import dramatiq_shutdown_timeout

    if metrics_port:
        serve_metrics(metrics_port, args.metrics_bind or settings.metrics_bind, multiprocess_dir)

    argv = [WORKER_MODULE, "--processes", str(processes), "--threads", str(threads),
            "--worker-shutdown-timeout", str(int(dramatiq_shutdown_timeout(shutdown_timeout) * 1000)), *extra]
    return dramatiq_main(make_argument_parser().parse_args(argv))


def cmd_plugins(args: argparse.Namespace, extra: list[str]) -> int:
    """List loaded plugins with version and tasks; with --check, every problem (exit 1 when any)."""
    from render_core.sdk.registry import check_plugins

    settings = _settings_or_exit()
    if args.check:
        return _print_check(settings)
    registry = check_plugins(settings.render_plugins, trace_hooks=settings.trace_hooks)
    for problem in registry.problems:
        print(f"c3-render: {problem}", file=sys.stderr)
    infos = registry.plugins()
    if args.json:
        print(json.dumps([{"name": i.name, "version": i.version, "tasks": list(i.tasks),
                           "providers": list(i.providers), "api": i.api} for i in infos], indent=2))
    else:
        for info in infos:
            offers = [*(f"task {t}" for t in info.tasks), *(f"provider {p}" for p in info.providers)]
            print(f"{info.name} {info.version or '-'}: {', '.join(offers) or '(nothing)'}")
    return 1 if registry.problems else 0


def _print_check(settings: Settings) -> int:
    """``plugins --check``: the start-up checks of the API and the worker, one line per plugin, then every
    problem and warning; 1 when a problem exists."""
    from render_core.sdk.api_version import PLUGIN_API_VERSION
    from render_core.sdk.registry import check_plugins

    registry = check_plugins(settings.render_plugins)
    problems = _plugin_problems(registry, with_settings=True)
    print(f"plugin API {PLUGIN_API_VERSION}")
    for info in registry.plugins():
        if not any(problem.startswith(f"plugin {info.name!r} ") for problem in problems):
            print(f"ok      {info.name} {info.version or '-'} (plugin API {info.api or 'undeclared'}; "
                  f"{info.origin or 'registered directly'})")
    for problem in problems:
        print(f"FAILED  {problem}")
    for warning in registry.loaded.warnings:
        print(f"warning {warning}")
    for name in registry.loaded.excluded:
        print(f"skipped {name} (not named in C3_RENDER_PLUGINS)")
    return 1 if problems else 0


def cmd_plugins_new(args: argparse.Namespace, extra: list[str]) -> int:
    """Write a new plugin package from the template."""
    from render_core.devtools.scaffold import ScaffoldError, write_plugin

    try:
        root = write_plugin(args.name, directory=args.directory, workload=args.gpu)
    except ScaffoldError as exc:
        print(f"c3-render: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {root}\nnext: cd {root} && python -m pytest && pip install -e . && c3-render plugins --check")
    return 0


def cmd_settings(args: argparse.Namespace, extra: list[str]) -> int:
    """Print every variable (the core's and the loaded plugins') with its value, or the README table."""
    from render_core.client.settings import SETTINGS as CLIENT_SETTINGS
    from render_core.config.table import markdown_tables, replace_table
    from render_core.sdk.registry import load_registry

    settings = _settings_or_exit()
    registry = load_registry(settings.render_plugins)
    if args.markdown or args.update:
        table = markdown_tables(Settings.declarations(), registry.settings, CLIENT_SETTINGS)
        if not args.update:
            print(table, end="")
            return 0
        with open(args.update, encoding="utf-8") as readme:
            text = readme.read()
        with open(args.update, "w", encoding="utf-8") as readme:
            readme.write(replace_table(text, table))
        return 0
    try:
        plugin_values = registry.read_settings()
    except SettingsError as exc:
        print(f"c3-render: configuration error: {exc}", file=sys.stderr)
        return 2
    shown = {s.name: v for s, v in zip(Settings.declarations(), settings.public().values())}
    for declared in registry.settings.values():
        shown.update({s.name: "***" if s.secret and plugin_values[s.name] else str(plugin_values[s.name])
                      for s in declared})
    for name, value in shown.items():
        print(f"{name}={value}")
    return 0


def cmd_dev(args: argparse.Namespace, extra: list[str]) -> int:
    """Run Redis, an S3 server, the API and a worker in the foreground until Ctrl-C."""
    from render_core.devtools.dev import run_dev

    settings = _settings_or_exit()
    _plugins_or_exit(settings, with_settings=True)
    return run_dev(data_dir=str(args.data_dir or settings.dev_dir), port=args.port)


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{raw} is not a positive integer")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="c3-render", description="C3 Render job service.")
    commands = parser.add_subparsers(dest="command", required=True)
    api = commands.add_parser("api", help="serve the HTTP API (granian by default, or gunicorn)")
    # Flags left unset fall back to the settings (environment variables, then their defaults).
    api.add_argument("--server", choices=SERVERS, help="the WSGI server (default: API_SERVER)")
    api.add_argument("--bind", help="address:port (default: API_BIND)")
    api.add_argument("--workers", type=_positive_int, help="server processes (default: API_WORKERS)")
    api.add_argument("--threads", type=_positive_int, help="request threads per API process, requests served "
                                                           "at once, waits included (default: API_THREADS)")
    api.add_argument("--access-log", action=argparse.BooleanOptionalAction, default=None,
                     help="one log line per request (default: API_ACCESS_LOG)")
    api.set_defaults(func=cmd_api)
    worker = commands.add_parser("worker", help="run job workers (dramatiq flags pass through)")
    worker.add_argument("--processes", type=_positive_int, help="processes (default: WORKER_PROCESSES)")
    worker.add_argument("--threads", type=_positive_int, help="job threads per process (default: WORKER_THREADS)")
    worker.add_argument("--shutdown-timeout", type=float,
                        help="seconds running jobs get to finish on SIGTERM before they are requeued "
                             "(default: WORKER_SHUTDOWN_TIMEOUT)")
    worker.add_argument("--metrics-port", type=int, help="port of this worker's /metrics, 0 = off "
                                                         "(default: METRICS_PORT)")
    worker.add_argument("--metrics-bind", help="address of this worker's /metrics (default: METRICS_BIND)")
    worker.set_defaults(func=cmd_worker)
    dev = commands.add_parser("dev", help="everything on this machine, in the foreground")
    dev.add_argument("--data-dir", help="where Redis, S3 and scratch data live (default: C3_DEV_DIR)")
    dev.add_argument("--port", type=int, default=5000)
    dev.set_defaults(func=cmd_dev)
    settings = commands.add_parser("settings", help="show every environment variable and its value")
    settings.add_argument("--markdown", action="store_true", help="print the README's configuration table")
    settings.add_argument("--update", metavar="README", help="rewrite the configuration table in this file")
    settings.set_defaults(func=cmd_settings)
    plugins = commands.add_parser("plugins", help="list loaded plugins, check them, or start a new one")
    plugins.add_argument("--json", action="store_true")
    plugins.add_argument("--check", action="store_true",
                         help="import and check every plugin as start-up does; exit 1 on any problem")
    plugins.set_defaults(func=cmd_plugins)
    plugin_commands = plugins.add_subparsers(dest="plugins_command")
    new = plugin_commands.add_parser("new", help="write a new task plugin package (NAME is the task name)")
    new.add_argument("name", metavar="NAME")
    new.add_argument("--gpu", metavar="WORKLOAD", help="the GPU workload type the task leases, e.g. media:fast")
    new.add_argument("--directory", default=".", help="where to create the package folder (default: here)")
    new.set_defaults(func=cmd_plugins_new)
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
