"""``c3-render dev``: Redis, an S3 server, the API and a worker on this machine, in the foreground.

All data lives under one directory (default ``.c3-render/``). A small file
server publishes sample inputs so the printed curl commands work offline.
Ctrl-C stops everything.
"""

from __future__ import annotations

import functools
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests

from .devservices import RedisServer, S3Server, free_port
from .samples import write_samples

ACCESS_KEY = "c3render"
BUCKET = "c3-render"
#: Seconds to wait for the API to answer /readyz.
READY_TIMEOUT = 60.0


def _secret(data_dir: Path) -> str:
    path = data_dir / "s3-secret"
    if not path.exists():
        path.write_text(secrets.token_hex(16))
        path.chmod(0o600)
    return path.read_text().strip()


def _serve_samples(directory: Path) -> tuple[ThreadingHTTPServer, str]:
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}"


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass


def _wait_ready(url: str, children: list[subprocess.Popen]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if any(child.poll() is not None for child in children):
            raise RuntimeError("a process exited during start-up; see the output above")
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"the API did not become ready at {url} within {READY_TIMEOUT:.0f} s")


def _speech_sample(api: str) -> str | None:
    """Make a speech sample through the running API (csm); its presigned URL, or None."""
    try:
        job = requests.post(f"{api}/csm", json={"text": "Hello from C3 Render. This is a sample."}, timeout=10)
        job_id = job.json()["id"]
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            status = requests.get(f"{api}/status/{job_id}", timeout=5).json()["status"]
            if status == "success":
                return requests.get(f"{api}/result/{job_id}", timeout=5).json()["result_url"]
            if status not in ("queued", "running"):
                return None
            time.sleep(0.5)
    except (requests.RequestException, KeyError, ValueError):
        pass
    return None


def _task_paths(api: str) -> list[str]:
    """The task endpoints the running API serves (``POST /<task>``), from its OpenAPI document."""
    try:
        paths = requests.get(f"{api}/openapi.json", timeout=5).json()["paths"]
    except (requests.RequestException, KeyError, ValueError):
        return []
    return sorted(path for path, methods in paths.items()
                  if methods.get("post", {}).get("operationId", "").startswith("submit_"))


def _banner(api: str, samples: str, speech: str | None, metrics_port: int, samples_dir: Path,
            tasks: list[str]) -> str:
    speech = speech or f"{samples}/speech.mp3"
    return f"""
C3 Render is running.
  API        {api}   (OpenAPI: {api}/openapi.json, metrics: {api}/metrics)
  tasks      POST {", ".join(tasks) or "(none)"}
  worker     http://127.0.0.1:{metrics_port}/metrics
  samples    {samples}/   (sample inputs served for the examples)

Try:
  curl -s -X POST {api}/analyze -d '{{"image_url": "{samples}/sample.png"}}'
  curl -s -X POST {api}/csm -d '{{"text": "Hello from C3 Render."}}'
  curl -s -X POST {api}/whisper -d '{{"audio_url": "{speech}"}}'
  curl -s -X POST {api}/portrait -d '{{"image_url": "{samples}/portrait.png", "audio_url": "{speech}"}}'
then:
  curl -s {api}/status/<id>
  curl -s -H 'Prefer: wait=30' {api}/status/<id>     (answers as soon as the job ends)
  curl -s {api}/result/<id>

Or with the CLI (local files are uploaded; --wait shows progress, then the result):
  export C3_RENDER_URL={api}
  c3-render submit analyze --file image_url={samples_dir}/sample.png --wait
  c3-render submit csm --field text='Hello from C3 Render.' --wait -o hello.mp3
  c3-render submit whisper --file audio_url=hello.mp3 --wait
  c3-render submit portrait --file image_url={samples_dir}/portrait.png --file audio_url=hello.mp3 --wait -o talk.mp4
  c3-render jobs

Ctrl-C stops everything.
"""


def run_dev(data_dir: str, port: int = 5000) -> int:
    root = Path(data_dir).resolve()
    root.mkdir(parents=True, exist_ok=True)
    redis_server = RedisServer(root / "redis", appendonly=True)
    s3_server = S3Server(root / "s3", access_key=ACCESS_KEY, secret_key=_secret(root), bucket=BUCKET)
    children: list[subprocess.Popen] = []
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        print("starting Redis and the S3 server ...", flush=True)
        redis_server.start()
        s3_server.start()
        samples_dir = write_samples(root / "samples")
        samples_server, samples_url = _serve_samples(samples_dir)
        metrics_port = free_port()
        env = {**os.environ, "REDIS_URL": redis_server.url, "MINIO_ENDPOINT": s3_server.endpoint,
               "MINIO_ACCESS_KEY": ACCESS_KEY, "MINIO_SECRET_KEY": _secret(root), "MINIO_BUCKET": BUCKET,
               "MINIO_SECURE": "false", "OUTPUT_DIR": str(root / "output"), "C3_ALLOW_LOOPBACK_URLS": "true",
               "METRICS_PORT": str(metrics_port)}
        env.setdefault("C3_RENDER_ALLOW_OPEN", "true")  # on this machine only: no key needed unless one is set
        cli = [sys.executable, "-m", "render_core.cli"]
        children.append(subprocess.Popen([*cli, "api", "--bind", f"127.0.0.1:{port}", "--workers", "2"], env=env))
        # A short drain: Ctrl-C gives a running job 5 s, then puts it back in the queue.
        children.append(subprocess.Popen([*cli, "worker", "--processes", "1", "--threads", "2",
                                          "--shutdown-timeout", "5"], env=env))
        api = f"http://127.0.0.1:{port}"
        _wait_ready(f"{api}/readyz", children)
        print("making a speech sample with the csm task ...", flush=True)
        print(_banner(api, samples_url, _speech_sample(api), metrics_port, samples_dir, _task_paths(api)),
              flush=True)
        while not stop.is_set():
            if any(child.poll() is not None for child in children):
                print("c3-render dev: a process exited; stopping", file=sys.stderr)
                return 1
            stop.wait(0.5)
        return 0
    except RuntimeError as exc:
        print(f"c3-render dev: {exc}", file=sys.stderr)
        return 1
    finally:
        print("stopping ...", flush=True)
        for child in reversed(children):
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in reversed(children):
            try:
                child.wait(timeout=20)
            except subprocess.TimeoutExpired:
                child.kill()
        s3_server.stop()
        redis_server.stop()
