"""A package from ``c3-render plugins new``, installed like a third party's, gets an endpoint, an OpenAPI
entry, metrics, a CLI line, and runs a job through the real service with no change to the core."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
import requests

from render_core.devtools.scaffold import supported_range, write_plugin
from support.stack import spawn, start_api, stop, wait_terminal


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A folder holding the installed package (pip install --target), put on PYTHONPATH."""
    root = tmp_path_factory.mktemp("scaffold")
    package = write_plugin("shout", root)
    site = root / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
                    "--no-build-isolation", "--target", str(site), str(package)], check=True, timeout=300)
    return site


def python(site, code: str) -> str:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(site)})
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_installed_package_is_listed_documented_and_measured(site):
    listed = json.loads(python(site, "from render_core.cli import main; main(['plugins', '--json'])"))
    assert {"name": "shout", "version": "0.1.0", "tasks": ["shout"], "providers": [],
            "api": supported_range()} in listed
    document = json.loads(python(site, (
        "import json; from render_core.sdk.registry import load_registry; "
        "from render_api.openapi import build_document; print(json.dumps(build_document(load_registry())))")))
    body = document["paths"]["/shout"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert {"text", "text_url", "notify_url", "max_time"} <= set(body["properties"])
    exposition = python(site, (
        "from prometheus_client import generate_latest; from render_core.obs import metrics; "
        "from render_core.sdk.registry import load_registry; "
        "metrics.declare_series(load_registry().tasks.values()); print(generate_latest().decode())"))
    assert 'c3_render_jobs_in_progress{task="shout"} 0.0' in exposition


def test_a_job_of_the_installed_package_runs_through_the_service(site, stack_env, services_dir):
    env = {**stack_env, "PYTHONPATH": str(site), "METRICS_PORT": "0"}  # the session worker holds its port
    worker = spawn(["worker", "--processes", "1", "--threads", "1"], env, services_dir / "shout-worker.log")
    try:
        time.sleep(0.5)
        api_process, api = start_api(env, services_dir / "shout-api.log")
        try:
            answer = requests.post(f"{api}/shout", json={"text": "hello"}, timeout=10)
            assert answer.status_code == 200, answer.text
            status = wait_terminal(api, answer.json()["id"])
            assert status["status"] == "success", status
            assert status["metadata"] == {"characters": 5}
            assert requests.get(f"{api}/result/{status['id']}", timeout=5).json() == {"text": "HELLO"}
            rejected = requests.post(f"{api}/shout", json={}, timeout=10)
            assert rejected.status_code == 400 and "text" in rejected.text
        finally:
            stop(api_process)
    finally:
        stop(worker)
