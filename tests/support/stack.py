"""Starting and stopping the service processes (API, worker) for integration tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import requests

from render_core.devtools.devservices import free_port
from support.servers import wait_for

#: The stack's WEBHOOK_SECRET: two secrets, as during a rotation, so every delivery is signed with both.
WEBHOOK_SECRETS = ("whsec_bmV3LXNlY3JldC0wMTIzNDU2Nzg5YWJjZGVm",   # b"new-secret-0123456789abcdef"
                   "whsec_b2xkLXNlY3JldC0wMTIzNDU2Nzg5YWJjZGVm")   # b"old-secret-0123456789abcdef"


def spawn(args, env, log_path: Path) -> subprocess.Popen:
    with open(log_path, "wb") as log:
        return subprocess.Popen([sys.executable, "-m", "render_core.cli", *args], env=env, stdout=log,
                                stderr=subprocess.STDOUT)


def stop(process: subprocess.Popen, timeout: float = 20) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def start_api(env: dict, log_path: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = spawn(["api", "--bind", f"127.0.0.1:{port}", "--workers", "1"], env, log_path)
    url = f"http://127.0.0.1:{port}"

    def ready():
        if process.poll() is not None:
            raise RuntimeError(log_path.read_text())
        try:
            return requests.get(f"{url}/readyz", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    wait_for(ready, timeout=30, message="the API to answer /readyz")
    return process, url


def wait_terminal(api_url: str, job_id: str, timeout: float = 60.0) -> dict:
    """Poll GET /status until the job is terminal; returns the status body."""
    terminal = {"success", "failed", "timed_out", "cancelled", "expired"}

    def done():
        body = requests.get(f"{api_url}/status/{job_id}", timeout=5).json()
        return body if body.get("status") in terminal else None

    return wait_for(done, timeout=timeout, interval=0.1, message=f"job {job_id} to finish")
