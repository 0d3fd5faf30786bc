"""Settings: one frozen object built from the environment.

Every variable name of the original service is honoured (REDIS_HOST/PORT,
MINIO_*, C3_RENDER_API_KEY, C3_API_KEY, OUTPUT_DIR, GPU_IDLE_TIMEOUT,
PRE_LAUNCH_TIMEOUT(_MAX), MAX_RENDER_TIME, RENDER_POLLING_INTERVAL), plus
REDIS_URL and the additions below. A bad value raises :class:`SettingsError`
naming the variable, so start-up stops with a message an operator can act on.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Callable, Mapping


class SettingsError(ValueError):
    """An environment variable holds a value that cannot be used."""


def _text(raw: str) -> str:
    return raw


def _integer(raw: str) -> int:
    return int(raw.strip())


def _decimal(raw: str) -> float:
    return float(raw.strip())


def _flag(raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("expected true or false")


def _seconds_list(raw: str) -> str:
    values = [float(part) for part in raw.split(",") if part.strip()]
    if not values or any(v < 0 for v in values):
        raise ValueError("expected comma-separated seconds, e.g. 5,15,30")
    return raw


def _path(raw: str) -> Path:
    return Path(raw).expanduser()


@dataclass(frozen=True)
class Settings:
    """Deployment settings; times in seconds unless the name says ms."""

    redis_url: str = "redis://localhost:6379/0"
    minio_endpoint: str = "localhost:9000"
    minio_access_key: str = ""
    minio_secret_key: str = ""
    minio_bucket: str = "c3-render"
    minio_secure: bool = False
    minio_public_url: str = ""
    minio_region: str = "us-east-1"
    render_api_key: str = ""
    render_keys_file: str = ""
    render_keys: str = ""
    c3_api_key: str = ""
    output_dir: Path = Path("/app/output")
    gpu_idle_timeout: float = 300.0
    pre_launch_timeout: float = 15.0
    pre_launch_timeout_max: float = 30.0
    max_render_time: float = 1800.0
    render_polling_interval: float = 5.0
    job_ttl: int = 7 * 24 * 3600
    presign_expiry: int = 7 * 24 * 3600
    max_body_bytes: int = 1024 * 1024
    max_download_bytes: int = 200 * 1024 * 1024
    max_upload_bytes: int = 200 * 1024 * 1024
    upload_url_expiry: int = 15 * 60
    upload_expiry_days: int = 1
    max_waits: int = 200
    webhook_attempts: int = 5
    webhook_interval: float = 5.0
    webhook_timeout: float = 10.0
    allow_loopback_urls: bool = False
    broker_heartbeat_timeout_ms: int = 5000
    broker_maintenance_chance: int = 1_000_000
    worker_idle_poll_ms: int = 250
    gpu_provider: str = "local"
    c3_api_url: str = "https://api.comput3.ai/api/v0"
    c3_node_url: str = "https://{node}"
    c3_ui_url: str = "https://ui-{node}"
    c3_launch_attempts: int = 5
    c3_launch_backoff: str = "5,15,30,45,60"
    static_nodes: str = ""
    static_node_key: str = ""
    gpu_max_instances: int = 2
    gpu_max_lifetime: float = 7200.0
    gpu_refresh_margin: float = 600.0
    node_retry_attempts: int = 2
    monitor_interval: float = 15.0
    health_tries: int = 3
    health_retry_delay: float = 2.0
    health_timeout: float = 5.0
    lease_ttl: float = 30.0
    gpu_ready_timeout: float = 600.0
    gpu_warm_instances: int = 1
    gpu_surplus_idle_timeout: float = 60.0
    gpu_launch_backlog: int = 2

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        """Build settings from ``environ`` (default ``os.environ``)."""
        env = os.environ if environ is None else environ
        values: dict = {}
        for attr, (names, parse, check) in _SOURCES.items():
            for name in names:
                raw = env.get(name)
                if raw is None or raw == "" and parse is not _text:
                    continue
                try:
                    value = parse(raw)
                except ValueError as exc:
                    raise SettingsError(f"{name}={raw!r} is not valid: {exc}") from None
                if check is not None and not check(value):
                    raise SettingsError(f"{name}={raw!r} is out of range")
                values[attr] = value
                break
        if "redis_url" not in values and ("REDIS_HOST" in env or "REDIS_PORT" in env):
            host = env.get("REDIS_HOST", "localhost")
            try:
                port = int(env.get("REDIS_PORT", "6379"))
            except ValueError:
                raise SettingsError(f"REDIS_PORT={env.get('REDIS_PORT')!r} is not valid: expected an integer") from None
            values["redis_url"] = f"redis://{host}:{port}/0"
        settings = cls(**values)
        if settings.pre_launch_timeout_max < settings.pre_launch_timeout:
            raise SettingsError("PRE_LAUNCH_TIMEOUT_MAX must not be below PRE_LAUNCH_TIMEOUT")
        return settings

    def backoff_delays(self) -> list[float]:
        """C3_LAUNCH_BACKOFF as seconds to wait before each launch retry."""
        return [float(part) for part in self.c3_launch_backoff.split(",") if part.strip()]

    def public(self) -> dict:
        """Settings without secrets, for logs and ``c3-render`` output."""
        hidden = {"minio_access_key", "minio_secret_key", "render_api_key", "render_keys", "c3_api_key",
                  "static_node_key"}
        return {f.name: ("***" if f.name in hidden and getattr(self, f.name) else str(getattr(self, f.name)))
                for f in fields(self)}


def _positive(value) -> bool:
    return value > 0


def _non_negative(value) -> bool:
    return value >= 0


Source = tuple[tuple[str, ...], Callable[[str], object], Callable[[object], bool] | None]

#: attribute -> (environment names, first wins; parser; range check)
_SOURCES: dict[str, Source] = {
    "redis_url": (("REDIS_URL", "BROKER_URL"), _text, None),
    "minio_endpoint": (("MINIO_ENDPOINT",), _text, None),
    "minio_access_key": (("MINIO_ACCESS_KEY",), _text, None),
    "minio_secret_key": (("MINIO_SECRET_KEY",), _text, None),
    "minio_bucket": (("MINIO_BUCKET",), _text, None),
    "minio_secure": (("MINIO_SECURE",), _flag, None),
    "minio_public_url": (("MINIO_PUBLIC_URL",), _text, None),
    "minio_region": (("MINIO_REGION",), _text, None),
    "render_api_key": (("C3_RENDER_API_KEY",), _text, None),
    "render_keys_file": (("C3_RENDER_KEYS_FILE",), _text, None),
    "render_keys": (("C3_RENDER_KEYS",), _text, None),
    "c3_api_key": (("C3_API_KEY",), _text, None),
    "output_dir": (("OUTPUT_DIR",), _path, None),
    "gpu_idle_timeout": (("GPU_IDLE_TIMEOUT",), _decimal, _non_negative),
    "pre_launch_timeout": (("PRE_LAUNCH_TIMEOUT",), _decimal, _non_negative),
    "pre_launch_timeout_max": (("PRE_LAUNCH_TIMEOUT_MAX",), _decimal, _non_negative),
    "max_render_time": (("MAX_RENDER_TIME",), _decimal, _positive),
    "render_polling_interval": (("RENDER_POLLING_INTERVAL",), _decimal, _positive),
    "job_ttl": (("JOB_TTL",), _integer, _positive),
    "max_body_bytes": (("MAX_BODY_BYTES",), _integer, _positive),
    "max_download_bytes": (("MAX_DOWNLOAD_BYTES",), _integer, _positive),
    "max_upload_bytes": (("MAX_UPLOAD_BYTES",), _integer, _positive),
    "upload_url_expiry": (("UPLOAD_URL_EXPIRY",), _integer, lambda v: 60 <= v <= 7 * 24 * 3600),
    "upload_expiry_days": (("UPLOAD_EXPIRY_DAYS",), _integer, _positive),
    "max_waits": (("API_MAX_WAITS",), _integer, _non_negative),
    "webhook_attempts": (("WEBHOOK_ATTEMPTS",), _integer, _positive),
    "webhook_interval": (("WEBHOOK_INTERVAL",), _decimal, _non_negative),
    "webhook_timeout": (("WEBHOOK_TIMEOUT",), _decimal, _positive),
    "allow_loopback_urls": (("C3_ALLOW_LOOPBACK_URLS",), _flag, None),
    "broker_heartbeat_timeout_ms": (("BROKER_HEARTBEAT_TIMEOUT",), _integer, _positive),
    "broker_maintenance_chance": (("BROKER_MAINTENANCE_CHANCE",), _integer, lambda v: 0 <= v <= 1_000_000),
    "worker_idle_poll_ms": (("WORKER_IDLE_POLL_MS",), _integer, _positive),
    "gpu_provider": (("GPU_PROVIDER",), _text, None),
    "c3_api_url": (("C3_API_URL",), _text, None),
    "c3_node_url": (("C3_NODE_URL",), _text, lambda v: "{node}" in v),
    "c3_ui_url": (("C3_UI_URL",), _text, lambda v: "{node}" in v),
    "c3_launch_attempts": (("C3_LAUNCH_ATTEMPTS",), _integer, _positive),
    "c3_launch_backoff": (("C3_LAUNCH_BACKOFF",), _seconds_list, None),
    "static_nodes": (("STATIC_NODES",), _text, None),
    "static_node_key": (("STATIC_NODE_KEY",), _text, None),
    "gpu_max_instances": (("GPU_MAX_INSTANCES",), _integer, _positive),
    "gpu_max_lifetime": (("GPU_MAX_LIFETIME",), _decimal, _positive),
    "gpu_refresh_margin": (("GPU_REFRESH_MARGIN",), _decimal, _non_negative),
    "node_retry_attempts": (("NODE_RETRY_ATTEMPTS",), _integer, _non_negative),
    "monitor_interval": (("MONITOR_INTERVAL",), _decimal, _positive),
    "health_tries": (("HEALTH_TRIES",), _integer, _positive),
    "health_retry_delay": (("HEALTH_RETRY_DELAY",), _decimal, _non_negative),
    "health_timeout": (("HEALTH_TIMEOUT",), _decimal, _positive),
    "lease_ttl": (("LEASE_TTL",), _decimal, _positive),
    "gpu_ready_timeout": (("GPU_READY_TIMEOUT",), _decimal, _positive),
    "gpu_warm_instances": (("GPU_WARM_INSTANCES",), _integer, _non_negative),
    "gpu_surplus_idle_timeout": (("GPU_SURPLUS_IDLE_TIMEOUT",), _decimal, _non_negative),
    "gpu_launch_backlog": (("GPU_LAUNCH_BACKLOG",), _integer, _positive),
}
