"""``c3-render api`` under each server: the same answers, the body limit, reload without downtime."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest
import requests

from render_core.devtools.devservices import free_port
from support.servers import wait_for
from support.stack import spawn, stop


@pytest.fixture
def start(stack_env, tmp_path):
    started = []

    def run(*args: str) -> str:
        port = free_port()
        env = {**stack_env, "MAX_BODY_BYTES": "2000"}
        process = spawn(["api", "--bind", f"127.0.0.1:{port}", "--workers", "1", *args], env,
                        tmp_path / f"api-{len(started)}.log")
        started.append(process)
        url = f"http://127.0.0.1:{port}"

        def ready():
            assert process.poll() is None, (tmp_path / f"api-{len(started) - 1}.log").read_text()
            try:
                return requests.get(f"{url}/readyz", timeout=1).status_code == 200
            except requests.RequestException:
                return False

        wait_for(ready, timeout=30, message="the API to answer /readyz")
        return url

    yield run, started
    for process in started:
        stop(process)


@pytest.mark.parametrize("server", ["granian", "gunicorn"])
def test_each_server_answers_and_keeps_the_body_limit(start, server):
    run, _ = start
    url = run("--server", server, "--no-access-log")
    queued = requests.post(f"{url}/echo", json={"message": "hi"}, timeout=5)
    assert queued.status_code == 200 and queued.json()["status"] == "queued"
    status = requests.get(f"{url}/status/{queued.json()['id']}", timeout=5).json()
    assert status["id"] == queued.json()["id"] and status["type"] == "echo"
    too_big = requests.post(f"{url}/echo", data=b'{"message": "' + b"x" * 5000 + b'"}', timeout=5)
    assert too_big.status_code == 413
    assert too_big.json()["title"] == "Body too large"


def test_granian_reloads_its_workers_on_sighup_and_keeps_answering(start):
    run, started = start
    url = run()  # the default server
    workers = subprocess.run(["pgrep", "-P", str(started[0].pid)], capture_output=True, text=True).stdout.split()
    assert workers, "granian runs its app in worker processes"
    os.kill(started[0].pid, signal.SIGHUP)
    wait_for(lambda: set(subprocess.run(["pgrep", "-P", str(started[0].pid)], capture_output=True,
                                        text=True).stdout.split()) - set(workers),
             timeout=30, message="new worker processes")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/healthz", timeout=2).status_code == 200:
                break
        except requests.RequestException:
            time.sleep(0.2)
    assert requests.post(f"{url}/echo", json={"message": "after reload"}, timeout=5).status_code == 200
    assert started[0].poll() is None
