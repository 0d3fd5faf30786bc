"""``/metrics`` of the API and of the worker after real jobs ran.

Both pages must pass ``promtool check metrics``, carry the families the dashboard and the
alerts read, and keep every label value bounded: route templates, task names, stages and
outcomes, never a job id.
"""

from __future__ import annotations

import random
import re
import string
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from render_core.obs import metrics
from support.servers import WebhookReceiver, wait_for
from support.stack import wait_terminal

DEPLOY_TESTS = str(Path(__file__).resolve().parents[1] / "deploy")
if DEPLOY_TESTS not in sys.path:
    sys.path.insert(0, DEPLOY_TESTS)
from deploy_support import require_tool  # noqa: E402  (tool lookup shared with the deploy tests)

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)
LARGEST_BUCKET = 7200.0
WEBHOOK_OUTCOMES = {"delivered", "failed"}
ATTEMPT_RESULTS = {"ok", "error"}
HTTP_METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "other"}
JUNK_REQUESTS = 300

API_SAMPLES = {
    "c3_render_http_requests_total", "c3_render_http_request_duration_seconds_bucket",
    "c3_render_http_request_duration_seconds_sum", "c3_render_http_request_duration_seconds_count",
    "c3_render_jobs_submitted_total", "c3_render_queue_depth", "c3_render_queue_oldest_age_seconds",
}
WORKER_SAMPLES = {
    "c3_render_jobs_finished_total", "c3_render_jobs_in_progress", "c3_render_stage_duration_seconds_bucket",
    "c3_render_stage_duration_seconds_sum", "c3_render_stage_duration_seconds_count",
    "c3_render_webhook_deliveries_total", "c3_render_webhook_attempts_total", "c3_render_worker_threads",
    "c3_render_worker_heartbeat_timestamp_seconds",
}


@pytest.fixture(scope="module")
def jobs(api) -> dict[str, str]:
    """Job ids of a finished mix: a stored file with its webhook delivered, a failed job."""
    with WebhookReceiver() as receiver:
        stored = _submit(api, "echo-file", {"message": "metrics", "notify_url": f"{receiver.url}/hook"})
        failed = _submit(api, "echo", {"message": "metrics", "fail": "failing on purpose"})
        assert wait_terminal(api, stored)["status"] == "success"
        assert wait_terminal(api, failed)["status"] == "failed"
        wait_for(lambda: _status(api, stored).get("webhook", {}).get("status") == "delivered", timeout=20,
                 message="the webhook delivery")
    assert requests.get(f"{api}/result/{stored}", timeout=5, allow_redirects=False).status_code < 400
    assert requests.get(f"{api}/status/{uuid.uuid4()}", timeout=5).status_code == 404
    return {"stored": stored, "failed": failed}


@pytest.fixture(scope="module")
def api_page(api, jobs) -> str:
    return _scrape(f"{api}/metrics")


@pytest.fixture(scope="module")
def worker_page(stack_env, worker, jobs) -> str:
    """The worker's page once the delivered webhook is counted (it is counted after the POST)."""
    url = f"http://127.0.0.1:{stack_env['METRICS_PORT']}/metrics"

    def page_with_delivery():
        page = _scrape(url)
        return page if 'outcome="delivered"' in page else None

    return wait_for(page_with_delivery, timeout=10, message="the worker to count the delivered webhook")


def _submit(api: str, task: str, body: dict) -> str:
    answer = requests.post(f"{api}/{task}", json=body, timeout=5)
    assert answer.status_code in (200, 201, 202), answer.text
    return answer.json()["id"]


def _status(api: str, job_id: str) -> dict:
    return requests.get(f"{api}/status/{job_id}", timeout=5).json()


def _scrape(url: str) -> str:
    answer = requests.get(url, timeout=5)
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"].startswith("text/plain"), answer.headers["Content-Type"]
    return answer.text


def _samples(page: str):
    return [sample for family in text_string_to_metric_families(page) for sample in family.samples]


def _label_values(page: str, sample_name: str, label: str) -> set[str]:
    return {s.labels[label] for s in _samples(page) if s.name == sample_name and label in s.labels}


def _check_with_promtool(page: str) -> None:
    result = subprocess.run([require_tool("promtool"), "check", "metrics"], input=page, capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 0 and not (result.stdout + result.stderr).strip(), (
        f"promtool check metrics found problems:\n{result.stdout}{result.stderr}")


def _assert_no_job_id_in_labels(page: str, job_ids) -> None:
    assert all(UUID.fullmatch(job_id) for job_id in job_ids), "job ids are no longer UUIDs: fix the UUID regex"
    leaks = {(s.name, key, value) for s in _samples(page) for key, value in s.labels.items() if UUID.search(value)}
    assert not leaks, f"label values carrying a job id: {sorted(leaks)}"


def _assert_histograms_reach_two_hours(page: str) -> None:
    histograms = [f for f in text_string_to_metric_families(page) if f.type == "histogram"]
    assert histograms, "no histogram on the page"
    for family in histograms:
        bounds = {float(s.labels["le"]) for s in family.samples if s.name.endswith("_bucket")}
        assert LARGEST_BUCKET in bounds and float("inf") in bounds, f"{family.name} buckets: {sorted(bounds)}"


def _assert_counters_end_in_total(page: str) -> None:
    counters = re.findall(r"^# TYPE (\S+) counter$", page, re.MULTILINE)
    assert counters, "no counter on the page"
    assert all(name.endswith("_total") for name in counters), counters


@pytest.mark.parametrize("page_name", ["api_page", "worker_page"])
def test_page_passes_promtool_and_naming_rules(page_name, request, jobs):
    page = request.getfixturevalue(page_name)
    _check_with_promtool(page)
    _assert_no_job_id_in_labels(page, jobs.values())
    _assert_histograms_reach_two_hours(page)
    _assert_counters_end_in_total(page)


def test_promtool_check_can_fail():
    """The check above is not a no-op: a counter without _total is reported."""
    with pytest.raises(AssertionError, match="promtool"):
        _check_with_promtool("# HELP jobs Jobs.\n# TYPE jobs counter\njobs 1\n")


def test_job_id_check_can_fail():
    job_id = str(uuid.uuid4())
    page = f'# TYPE c3_render_x_total counter\nc3_render_x_total{{route="/status/{job_id}"}} 1\n'
    with pytest.raises(AssertionError, match="job id"):
        _assert_no_job_id_in_labels(page, [job_id])


def test_api_page_has_routes_as_templates(api_page):
    names = {s.name for s in _samples(api_page)}
    assert API_SAMPLES <= names, API_SAMPLES - names
    routes = _label_values(api_page, "c3_render_http_requests_total", "route")
    assert {"/echo", "/echo-file", "/status/{job_id}", "/result/{job_id}"} <= routes, routes
    assert all(route.startswith("/") or route == "unmatched" for route in routes), routes
    assert _label_values(api_page, "c3_render_http_requests_total", "method") <= HTTP_METHODS
    statuses = _label_values(api_page, "c3_render_http_requests_total", "status")
    assert {"404"} <= statuses and all(re.fullmatch(r"[1-5]\d\d", code) for code in statuses), statuses


def test_api_page_counts_submissions_and_queues(api_page):
    submitted = {s.labels["task"]: s.value for s in _samples(api_page) if s.name == "c3_render_jobs_submitted_total"}
    assert submitted.get("echo", 0) >= 1 and submitted.get("echo-file", 0) >= 1, submitted
    depth = {s.labels["queue"]: s.value for s in _samples(api_page) if s.name == "c3_render_queue_depth"}
    assert "task.echo" in depth and "webhooks" in depth, depth
    assert all(value >= 0 for value in depth.values()), depth


def test_worker_page_has_job_stage_and_webhook_families(worker_page):
    names = {s.name for s in _samples(worker_page)}
    assert WORKER_SAMPLES <= names, WORKER_SAMPLES - names
    outcomes = {(s.labels["task"], s.labels["outcome"]) for s in _samples(worker_page)
                if s.name == "c3_render_jobs_finished_total" and s.value > 0}
    assert {("echo-file", "success"), ("echo", "failed")} <= outcomes, outcomes
    assert _label_values(worker_page, "c3_render_jobs_finished_total", "outcome") <= set(metrics.OUTCOMES)
    stages = _label_values(worker_page, "c3_render_stage_duration_seconds_count", "stage")
    assert {"queue_wait", "inference", "upload", "webhook"} <= stages <= set(metrics.STAGES), stages
    assert _label_values(worker_page, "c3_render_webhook_deliveries_total", "outcome") <= WEBHOOK_OUTCOMES
    assert _label_values(worker_page, "c3_render_webhook_attempts_total", "result") <= ATTEMPT_RESULTS


def test_worker_page_reports_threads_and_a_recent_heartbeat(worker_page):
    samples = {s.name: s.value for s in _samples(worker_page) if not s.labels}
    assert samples["c3_render_worker_threads"] >= 1
    assert samples["c3_render_worker_heartbeat_timestamp_seconds"] > 1.6e9  # a unix time, not a counter
    tasks = _label_values(worker_page, "c3_render_jobs_in_progress", "task")
    assert "echo" in tasks, tasks



def _junk_requests(api: str, count: int, rng: random.Random) -> None:
    """``count`` requests with made-up methods (uppercase, as gunicorn admits them) on made-up paths."""
    with requests.Session() as client:
        for _ in range(count):
            method = "".join(rng.choices(string.ascii_uppercase, k=12))
            path = "".join(rng.choices(string.ascii_lowercase, k=10))
            answer = client.request(method, f"{api}/{path}", timeout=5)
            assert 400 <= answer.status_code < 500, (method, answer.status_code)
            answer = client.request(method, f"{api}/status/{uuid.uuid4()}", timeout=5)
            assert 400 <= answer.status_code < 500, (method, answer.status_code)


def test_junk_methods_and_paths_do_not_grow_the_page(api):
    """Unknown methods count as ``other``, unknown routes as ``unmatched``: the series stay the same."""
    rng = random.Random(20240610)
    _junk_requests(api, 2, rng)  # the first ones create the "other"/"unmatched" series
    before = _scrape(f"{api}/metrics")
    _junk_requests(api, JUNK_REQUESTS, rng)
    after = _scrape(f"{api}/metrics")

    series = lambda page: {(s.name, tuple(sorted(s.labels.items()))) for s in _samples(page)  # noqa: E731
                           if s.name.startswith("c3_render_http_")}
    assert series(after) == series(before), sorted(series(after) - series(before))[:5]
    assert len(after) < len(before) + 2_000, "the page grew by more than a few counter digits"
    assert _label_values(after, "c3_render_http_requests_total", "method") <= HTTP_METHODS
