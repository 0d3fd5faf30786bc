"""Settings: one frozen object built from the environment, every variable declared once.

Each field is declared with :func:`env` (variable name, default, help, unit,
secret...), and :meth:`Settings.from_env` is the one place the core reads its
environment. Every variable name of the original service is kept (REDIS_HOST/PORT,
MINIO_*, C3_RENDER_API_KEY, C3_API_KEY, OUTPUT_DIR, GPU_IDLE_TIMEOUT,
PRE_LAUNCH_TIMEOUT(_MAX), MAX_RENDER_TIME, RENDER_POLLING_INTERVAL), with REDIS_URL
and its alias BROKER_URL. A bad value raises :class:`SettingsError` naming the
variable, so start-up stops with a message an operator can act on.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Iterable, Mapping

from render_core.sdk.setting import Setting, SettingsError, above, at_least, between

__all__ = ["Settings", "SettingsError", "env"]

#: Levels LOG_LEVEL accepts.
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


def env(name: str, default: Any, help: str, **declaration) -> Any:
    """A Settings field read from variable ``name`` (see :class:`Setting` for the rest)."""
    return field(default=default, metadata={"setting": Setting(name, default, help, **declaration)})


def _seconds_list(raw: str) -> str | None:
    try:
        values = [float(part) for part in raw.split(",") if part.strip()]
    except ValueError:
        values = []
    if not values or any(v < 0 for v in values):
        return "expected comma-separated seconds, e.g. 5,15,30"
    return None


WEBHOOK_SECRET_PREFIX = "whsec_"
#: Decoded length of a webhook secret (the Standard Webhooks recommendation), bytes.
WEBHOOK_SECRET_BYTES = (24, 64)


def webhook_keys(value: str) -> tuple[bytes, ...]:
    """WEBHOOK_SECRET (space-separated ``whsec_<base64>``) -> the HMAC keys; ValueError names a secret
    by its position only, never by its value."""
    keys = []
    low, high = WEBHOOK_SECRET_BYTES
    for position, secret in enumerate(value.split(), start=1):
        if not secret.startswith(WEBHOOK_SECRET_PREFIX):
            raise ValueError(f"secret {position} does not start with {WEBHOOK_SECRET_PREFIX!r} "
                             f"(expected {WEBHOOK_SECRET_PREFIX}<base64>, secrets separated by spaces)")
        try:
            key = base64.b64decode(secret[len(WEBHOOK_SECRET_PREFIX):], validate=True)
        except binascii.Error:
            raise ValueError(f"secret {position}: the part after {WEBHOOK_SECRET_PREFIX!r} is not base64") from None
        if not low <= len(key) <= high:
            raise ValueError(f"secret {position} decodes to {len(key)} bytes; use {low} to {high} random bytes, "
                             f"e.g. {WEBHOOK_SECRET_PREFIX}$(openssl rand -base64 32)")
        keys.append(key)
    return tuple(keys)


def _webhook_secret(value: str) -> str | None:
    try:
        webhook_keys(value)
    except ValueError as exc:
        return str(exc)
    return None


def _node_template(value: str) -> str | None:
    return None if "{node}" in value else "must contain {node}"


@dataclass(frozen=True)
class Settings:
    """Deployment settings; times in seconds unless the name says ms."""

    # ---- Redis and object storage
    redis_url: str = env("REDIS_URL", "", "Redis of the job store and the broker (wins over REDIS_HOST/PORT)",
                         aliases=("BROKER_URL",), secret=True,
                         shown_default="redis://REDIS_HOST:REDIS_PORT/0")
    redis_host: str = env("REDIS_HOST", "localhost", "Redis host when REDIS_URL is not set")
    redis_port: int = env("REDIS_PORT", 6379, "Redis port when REDIS_URL is not set", check=between(1, 65535))
    minio_endpoint: str = env("MINIO_ENDPOINT", "localhost:9000", "S3 endpoint host:port of media results")
    minio_access_key: str = env("MINIO_ACCESS_KEY", "", "S3 access key", secret=True)
    minio_secret_key: str = env("MINIO_SECRET_KEY", "", "S3 secret key", secret=True)
    minio_bucket: str = env("MINIO_BUCKET", "c3-render", "bucket of media results (created if missing)")
    minio_secure: bool = env("MINIO_SECURE", False, "HTTPS to S3")
    minio_public_url: str = env("MINIO_PUBLIC_URL", "", "host presigned URLs are signed for (no request goes "
                                                        "there; empty: MINIO_ENDPOINT)")
    minio_region: str = env("MINIO_REGION", "us-east-1", "S3 region")
    job_ttl: int = env("JOB_TTL", 7 * 24 * 3600, "job records expire this long after submission",
                       unit="s", check=above(0))

    # ---- API
    render_api_key: str = env("C3_RENDER_API_KEY", "", "the API key (named `default`, admin), sent as "
                                                       "X-C3-RENDER-KEY or Bearer; with no key at all the API "
                                                       "refuses to start unless C3_RENDER_ALLOW_OPEN=true",
                              secret=True)
    allow_open_api: bool = env("C3_RENDER_ALLOW_OPEN", False, "`true`: run the API without any key on purpose "
                                                              "(open to anyone who reaches it; `c3-render dev` "
                                                              "sets it)")
    render_keys_file: str = env("C3_RENDER_KEYS_FILE", "", "named client/admin keys: a JSON file (re-read "
                                                           "on change)")
    render_keys: str = env("C3_RENDER_KEYS", "", "named client/admin keys: the same JSON inline", secret=True)
    api_bind: str = env("API_BIND", "0.0.0.0:5000", "address:port of `c3-render api`")
    api_server: str = env("API_SERVER", "granian", "WSGI server of `c3-render api`", choices=("granian", "gunicorn"))
    api_workers: int = env("API_WORKERS", 2, "server processes of `c3-render api`", check=above(0))
    api_threads: int = env("API_THREADS", 256, "threads per `c3-render api` process (requests served at "
                                               "once, waits included)", check=above(0))
    api_access_log: bool = env("API_ACCESS_LOG", False, "one log line per API request (costs ~40 % of POST "
                                                        "throughput; /metrics counts and times requests)")
    max_waits: int = env("API_MAX_WAITS", 200, "`Prefer: wait` requests one API process holds at once",
                         check=at_least(0), shown_default="threads - 16 (200 outside `c3-render api`)")
    max_body_bytes: int = env("MAX_BODY_BYTES", 1024 * 1024, "largest request body", unit="bytes",
                              check=above(0))
    max_upload_bytes: int = env("MAX_UPLOAD_BYTES", 200 * 1024 * 1024, "largest upload (POST /uploads)",
                                unit="bytes", check=above(0))
    upload_url_expiry: int = env("UPLOAD_URL_EXPIRY", 15 * 60, "validity of a presigned upload URL", unit="s",
                                 check=between(60, 7 * 24 * 3600))
    upload_expiry_days: int = env("UPLOAD_EXPIRY_DAYS", 1, "uploads are deleted this many days after "
                                                           "upload (bucket lifecycle rule)", unit="days",
                                  check=above(0))

    # ---- workers and jobs
    worker_processes: int = env("WORKER_PROCESSES", 1, "processes of `c3-render worker`", check=above(0))
    worker_threads: int = env("WORKER_THREADS", 4, "job threads per worker process", check=above(0))
    worker_shutdown_timeout: float = env(
        "WORKER_SHUTDOWN_TIMEOUT", 1860.0, "on SIGTERM, running jobs get this long to finish; the rest "
        "go back to the queue", unit="s", check=at_least(0))
    max_render_time: float = env("MAX_RENDER_TIME", 1800.0, "cap on a job's run time (its max_time is "
                                                            "lowered to this)", unit="s", check=above(0))
    render_polling_interval: float = env("RENDER_POLLING_INTERVAL", 5.0, "poll period of a remote render",
                                         unit="s", check=above(0))
    output_dir: Path = env("OUTPUT_DIR", Path("/app/output"), "per-job scratch directories, removed after "
                                                              "each job")
    max_download_bytes: int = env("MAX_DOWNLOAD_BYTES", 200 * 1024 * 1024, "largest input download",
                                  unit="bytes", check=above(0))
    decode_memory_mb: int = env("DECODE_MEMORY_MB", 1024, "memory the image decodes of one worker process "
                                                          "may hold at once (portrait, analyze); more wait",
                                unit="MiB", check=above(0))
    decode_image_max_mb: int = env("DECODE_IMAGE_MAX_MB", 512, "memory one image's decode may need "
                                                               "(width x height x bytes per pixel, plus "
                                                               "copies); larger images are refused",
                                   unit="MiB", check=above(0))
    allow_loopback_urls: bool = env("C3_ALLOW_LOOPBACK_URLS", False, "let input and webhook URLs reach "
                                                                     "127.0.0.0/8 (dev only)")
    node_retry_attempts: int = env("NODE_RETRY_ATTEMPTS", 2, "retries of a job on a fresh node after a "
                                                             "node failure", check=at_least(0))
    webhook_schedule: str = env("WEBHOOK_SCHEDULE", "", "pauses between webhook attempts (13 attempts over "
                                                        "about 2 h by default; see Webhooks)", unit="s",
                                check=_seconds_list, shown_default="5,5,5,5,30,60,120,240,480,960,1920,3600")
    webhook_attempts: int | None = env("WEBHOOK_ATTEMPTS", None, "the original's fixed spacing instead of "
                                                                 "the schedule: attempts per job (5 if only "
                                                                 "WEBHOOK_INTERVAL is set)", type=int,
                                       check=above(0))
    webhook_interval: float | None = env("WEBHOOK_INTERVAL", None, "... and the pause between them (5 s if "
                                                                   "only WEBHOOK_ATTEMPTS is set)", unit="s",
                                         type=float, check=at_least(0))
    webhook_timeout: float = env("WEBHOOK_TIMEOUT", 10.0, "time allowed for one webhook POST", unit="s",
                                 check=above(0))
    webhook_secret: str = env("WEBHOOK_SECRET", "", "space-separated `whsec_<base64>` secrets that sign every "
                                                    "webhook (Standard Webhooks; several while rotating); "
                                                    "empty: unsigned", secret=True, check=_webhook_secret)
    state_write_retry: float = env("STATE_WRITE_RETRY", 60.0, "a worker retries a job state write this long "
                                                              "through a Redis outage", unit="s",
                                   check=at_least(0))
    sweep_interval: float = env("SWEEP_INTERVAL", 15.0, "period of the sweeper (one elected worker process) "
                                                        "that requeues or ends jobs nobody holds", unit="s",
                                check=above(0))
    job_hold_ttl: float = env("JOB_HOLD_TTL", 30.0, "a job no live worker holds this long is requeued; open "
                                                    "jobs end by complete_by + this + SWEEP_INTERVAL",
                              unit="s", check=above(0))

    # ---- broker
    broker_heartbeat_timeout_ms: int = env("BROKER_HEARTBEAT_TIMEOUT", 5000, "a worker silent this long is "
                                                                             "dead; its messages return",
                                           unit="ms", check=above(0))
    broker_maintenance_chance: int = env("BROKER_MAINTENANCE_CHANCE", 0, "per million broker calls, how many "
                                                                         "also sweep dead workers (Dramatiq's "
                                                                         "random sweep; the periodic one below "
                                                                         "makes it unneeded)",
                                         check=between(0, 1_000_000))
    broker_maintenance_interval: float = env("BROKER_MAINTENANCE_INTERVAL", 0.5, "each worker process beats "
                                                                                 "and sweeps dead workers' "
                                                                                 "messages back this often",
                                             unit="s", check=above(0))
    worker_idle_poll_ms: int = env("WORKER_IDLE_POLL_MS", 1000, "longest wait of an idle consumer without a "
                                                                "wake-up (a safety net: every enqueue wakes "
                                                                "consumers)", unit="ms", check=above(0))

    # ---- GPU provider
    gpu_provider: str = env("GPU_PROVIDER", "local", "where GPU work runs: local, comput3, static (or a "
                                                     "plugin's provider)")
    c3_api_key: str = env("C3_API_KEY", "", "Comput3.AI API key (workers with GPU_PROVIDER=comput3)",
                          secret=True)
    c3_api_url: str = env("C3_API_URL", "https://api.comput3.ai/api/v0", "Comput3.AI API")
    c3_node_url: str = env("C3_NODE_URL", "https://{node}", "URL of a Comput3 node ({node}: its host)",
                           check=_node_template)
    c3_ui_url: str = env("C3_UI_URL", "https://ui-{node}", "ComfyUI URL of a Comput3 node",
                         check=_node_template)
    c3_launch_attempts: int = env("C3_LAUNCH_ATTEMPTS", 5, "tries per Comput3 launch", check=above(0))
    c3_launch_backoff: str = env("C3_LAUNCH_BACKOFF", "5,15,30,45,60", "waits before launch retries 1, 2, ... "
                                                                       "(the last repeats)", unit="s",
                                 check=_seconds_list)
    static_nodes: str = env("STATIC_NODES", "", "GPU_PROVIDER=static: comma-separated node URLs "
                                                "(`url|comfyui-url` when ComfyUI is elsewhere)")
    static_node_key: str = env("STATIC_NODE_KEY", "", "sent to static nodes as X-C3-API-KEY and Bearer",
                               secret=True)

    # ---- GPU pool
    gpu_idle_timeout: float = env("GPU_IDLE_TIMEOUT", 300.0, "keep the warm idle instance at most this long "
                                                             "after its last job (GPU_IDLE_POLICY=fixed: "
                                                             "exactly this long)", unit="s", check=at_least(0))
    gpu_idle_policy: str = env("GPU_IDLE_POLICY", "adaptive", "adaptive: learn the idle limit from the "
                                                              "demand (break-even, at most GPU_IDLE_TIMEOUT) and "
                                                              "wait for a busy node only when it frees before a "
                                                              "launch would be ready; fixed: GPU_IDLE_TIMEOUT and "
                                                              "the pre-launch waits as set",
                               choices=("adaptive", "fixed"))
    pre_launch_timeout: float = env("PRE_LAUNCH_TIMEOUT", 15.0, "wait this long for a busy instance before "
                                                                "launching one", unit="s", check=at_least(0))
    pre_launch_timeout_max: float = env("PRE_LAUNCH_TIMEOUT_MAX", 30.0, "the same wait for jobs with more "
                                                                        "than 10 min to spare", unit="s",
                                        check=at_least(0))
    gpu_max_instances: int = env("GPU_MAX_INSTANCES", 2, "instances per workload type, launching ones "
                                                         "included", check=above(0))
    gpu_launch_backlog: int = env("GPU_LAUNCH_BACKLOG", 2, "waiting demand beyond the launches in flight "
                                                           "that starts another launch", check=above(0))
    gpu_max_lifetime: float = env("GPU_MAX_LIFETIME", 7200.0, "instances are replaced after this long",
                                  unit="s", check=above(0))
    gpu_refresh_margin: float = env("GPU_REFRESH_MARGIN", 600.0, "replace an instance this long before the "
                                                                 "provider's expiry", unit="s",
                                    check=at_least(0))
    gpu_ready_timeout: float = env("GPU_READY_TIMEOUT", 600.0, "a new instance must pass its first health "
                                                               "check within this", unit="s", check=above(0))
    gpu_warm_instances: int = env("GPU_WARM_INSTANCES", 1, "idle instances per type kept for "
                                                           "GPU_IDLE_TIMEOUT", check=at_least(0))
    gpu_surplus_idle_timeout: float = env("GPU_SURPLUS_IDLE_TIMEOUT", 60.0, "other idle instances stop after "
                                                                            "this", unit="s", check=at_least(0))
    monitor_interval: float = env("MONITOR_INTERVAL", 15.0, "period of the pool monitor's health pass",
                                  unit="s", check=above(0))
    health_tries: int = env("HEALTH_TRIES", 3, "failed health checks before an instance is dropped",
                            check=above(0))
    health_retry_delay: float = env("HEALTH_RETRY_DELAY", 2.0, "pause between health checks", unit="s",
                                    check=at_least(0))
    health_timeout: float = env("HEALTH_TIMEOUT", 5.0, "time allowed for one node health check", unit="s",
                                check=above(0))
    lease_ttl: float = env("LEASE_TTL", 30.0, "a GPU lease not renewed this long is reclaimed", unit="s",
                           check=above(0))

    # ---- observability and tooling
    log_level: str = env("LOG_LEVEL", "INFO", "log level of the API and the workers", choices=LOG_LEVELS)
    metrics_port: int = env("METRICS_PORT", 9300, "port of a worker's /metrics (0: off)",
                            check=between(0, 65535))
    metrics_bind: str = env("METRICS_BIND", "0.0.0.0", "address of a worker's /metrics")
    prometheus_multiproc_dir: str = env("PROMETHEUS_MULTIPROC_DIR", "", "metric files of all processes "
                                        "(emptied at start; read by prometheus_client too)",
                                        shown_default="a new temporary directory")
    render_plugins: str = env("C3_RENDER_PLUGINS", "", "comma-separated plugin entry points to load",
                              shown_default="all")
    trace_hooks: bool = env("C3_RENDER_TRACE_HOOKS", False, "log every plugin hook call (debug)")
    dev_dir: Path = env("C3_DEV_DIR", Path(".c3-render"), "data directory of `c3-render dev`")

    def __post_init__(self):
        if not self.redis_url:
            object.__setattr__(self, "redis_url", f"redis://{self.redis_host}:{self.redis_port}/0")

    @classmethod
    def declarations(cls) -> tuple[Setting, ...]:
        """Every variable the core reads, in declaration order."""
        return tuple(f.metadata["setting"] for f in fields(cls))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        """Build settings from ``environ`` (default: the process environment)."""
        values = {f.name: f.metadata["setting"].read(environ) for f in fields(cls)}
        settings = cls(**values)
        if settings.pre_launch_timeout_max < settings.pre_launch_timeout:
            raise SettingsError("PRE_LAUNCH_TIMEOUT_MAX must not be below PRE_LAUNCH_TIMEOUT")
        return settings

    def check_api_access(self) -> None:
        """Raise SettingsError when the API would run without any key and nobody said open is intended."""
        if not (self.render_api_key or self.render_keys_file or self.render_keys) and not self.allow_open_api:
            raise SettingsError("C3_RENDER_API_KEY is not set and no keys are given (C3_RENDER_KEYS_FILE, "
                                "C3_RENDER_KEYS), so the API would accept every request; set a key, or set "
                                "C3_RENDER_ALLOW_OPEN=true if an API without a key is intended")

    def webhook_keys(self) -> tuple[bytes, ...]:
        """The HMAC keys of WEBHOOK_SECRET, in order (none: webhooks go unsigned)."""
        return webhook_keys(self.webhook_secret)

    def backoff_delays(self) -> list[float]:
        """C3_LAUNCH_BACKOFF as seconds to wait before each launch retry."""
        return [float(part) for part in self.c3_launch_backoff.split(",") if part.strip()]

    @classmethod
    def variable_names(cls) -> frozenset[str]:
        """Every name the core reads, aliases included."""
        return frozenset(name for setting in cls.declarations() for name in setting.names)

    def public(self) -> dict:
        """Settings without secrets, for logs and ``c3-render`` output."""
        return {f.name: ("***" if f.metadata["setting"].secret and getattr(self, f.name)
                         else str(getattr(self, f.name)))
                for f in fields(self)}


def check_plugin_settings(declared: Mapping[str, Iterable[Setting]],
                          environ: Mapping[str, str] | None = None) -> None:
    """What a worker checks at start: no plugin variable reuses a core name, and every value is
    usable. ``declared``: plugin name -> its declarations (``Registry.settings``). SettingsError
    names the variable."""
    core = Settings.variable_names()
    for plugin, settings in declared.items():
        for setting in settings:
            clash = core.intersection(setting.names)
            if clash:
                raise SettingsError(f"plugin {plugin!r} declares {', '.join(sorted(clash))}, a variable of the core")
            setting.read(environ)
