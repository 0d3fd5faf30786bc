"""Real services for integration tests: redis-server, SeaweedFS S3, gunicorn API, Dramatiq worker."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import redis

from render_core.devtools.devservices import RedisServer, S3Server, free_port
from render_core.sdk.registry import load_registry
from render_api.services import ApiServices
from render_core.config.settings import Settings
from support.servers import FileServer, WebhookReceiver
from support.stack import WEBHOOK_SECRETS, spawn, start_api, stop

ACCESS_KEY = "testaccess"
SECRET_KEY = "testsecret-0123456789"
BUCKET = "c3-render-test"


@pytest.fixture(scope="session")
def services_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("services")


@pytest.fixture(scope="session")
def redis_server(services_dir):
    with RedisServer(services_dir / "redis") as server:
        yield server


@pytest.fixture(scope="session")
def s3_server(services_dir):
    with S3Server(services_dir / "s3", access_key=ACCESS_KEY, secret_key=SECRET_KEY, bucket=BUCKET) as server:
        yield server


@pytest.fixture(scope="session")
def stack_env(redis_server, s3_server, services_dir) -> dict:
    """The environment the API and worker processes run with."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("C3_", "MINIO_", "REDIS_", "PROMETHEUS_", "GPU_", "VISION_"))}
    env.update({
        "REDIS_URL": redis_server.url, "MINIO_ENDPOINT": s3_server.endpoint, "MINIO_ACCESS_KEY": ACCESS_KEY,
        "MINIO_SECRET_KEY": SECRET_KEY, "MINIO_BUCKET": BUCKET, "MINIO_SECURE": "false",
        "OUTPUT_DIR": str(services_dir / "output"), "C3_ALLOW_LOOPBACK_URLS": "true",
        "C3_RENDER_ALLOW_OPEN": "true",
        "WEBHOOK_INTERVAL": "0.3", "WEBHOOK_ATTEMPTS": "3", "WORKER_IDLE_POLL_MS": "100",
        "MAX_DOWNLOAD_BYTES": str(3 * 1024 * 1024),
        "LOG_LEVEL": "INFO", "METRICS_PORT": str(free_port()), "WEBHOOK_SECRET": " ".join(WEBHOOK_SECRETS),
    })
    return env


@pytest.fixture(scope="session")
def settings(stack_env) -> Settings:
    return Settings.from_env(stack_env)


@pytest.fixture(scope="session")
def services(settings) -> ApiServices:
    """A services in the test process (to submit jobs directly and read the store)."""
    return ApiServices(settings, load_registry())


@pytest.fixture(scope="session")
def worker(stack_env, services_dir):
    """A real ``c3-render worker`` process (1 process, 4 threads)."""
    process = spawn(["worker", "--processes", "1", "--threads", "4"], stack_env, services_dir / "worker.log")
    time.sleep(0.5)
    if process.poll() is not None:
        raise RuntimeError((services_dir / "worker.log").read_text())
    yield process
    stop(process)


@pytest.fixture(scope="session")
def api(stack_env, services_dir, worker) -> str:
    """Base URL of a real gunicorn-served API (no API key) with a worker running."""
    process, url = start_api(stack_env, services_dir / "api.log")
    yield url
    stop(process)


#: Named keys of the ``keyed_api`` (name -> key); ``ops`` is an admin, the others clients.
API_KEYS = {"alice": "alice-key-0123456789abcdef", "bob": "bob-key-0123456789abcdef",
            "ops": "ops-key-0123456789abcdef", "pager": "pager-key-0123456789abcdef"}


#: MAX_UPLOAD_BYTES of the ``keyed_api``.
KEYED_MAX_UPLOAD = 8 * 1024 * 1024


@pytest.fixture(scope="session")
def keys_file(services_dir) -> Path:
    """The keys file of ``keyed_api``: alice's key as a SHA-256 digest, the others in clear."""
    import hashlib
    import json

    path = services_dir / "api-keys.json"
    path.write_text(json.dumps({"keys": [
        {"name": "alice", "sha256": hashlib.sha256(API_KEYS["alice"].encode()).hexdigest(), "role": "client"},
        {"name": "bob", "key": API_KEYS["bob"]},
        {"name": "ops", "key": API_KEYS["ops"], "role": "admin"},
        {"name": "pager", "key": API_KEYS["pager"]},
    ]}))
    return path


@pytest.fixture(scope="session")
def keyed_api(stack_env, services_dir, worker, keys_file) -> str:
    """Base URL of a real API that needs the keys of ``keys_file`` (same Redis and worker as ``api``)."""
    env = {**stack_env, "C3_RENDER_KEYS_FILE": str(keys_file), "MAX_UPLOAD_BYTES": str(KEYED_MAX_UPLOAD)}
    process, url = start_api(env, services_dir / "keyed-api.log")
    yield url
    stop(process)


@pytest.fixture
def receiver():
    with WebhookReceiver() as server:
        yield server


@pytest.fixture(scope="session")
def files():
    with FileServer() as server:
        yield server


@pytest.fixture(scope="module")
def private_redis(tmp_path_factory):
    """A Redis of this test module's own: no worker of the shared stack reads or sweeps its records."""
    with RedisServer(tmp_path_factory.mktemp("private-redis")) as server:
        yield server


@pytest.fixture
def private_client(private_redis) -> redis.Redis:
    """A client of the module's private Redis, emptied before each test."""
    client = redis.Redis.from_url(private_redis.url)
    client.flushdb()
    return client
