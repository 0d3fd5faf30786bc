"""A real Prometheus scrapes the API and the worker while jobs run.

Every query of the Grafana dashboard must return data, and every rule of
``deploy/k8s/prometheus/rules.yml`` must evaluate without error on that data. The
``prometheus`` binary comes from ``deploy/tools/ensure-tools.sh`` (or PATH); without it
the test skips, except under CI where it fails.

The scrape config mimics Kubernetes: each target carries ``namespace`` and ``pod``
labels. Besides the session's API, a second API replica runs with an unreachable Redis
and answers 503, so the 5xx panels have real data. The rule groups are loaded with a
1 s evaluation interval (expressions unchanged) so they run within the test.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests
import yaml

from render_core.devtools.devservices import free_port
from support.servers import wait_for
from support.stack import wait_terminal

DEPLOY_TESTS = str(Path(__file__).resolve().parents[1] / "deploy")
if DEPLOY_TESTS not in sys.path:
    sys.path.insert(0, DEPLOY_TESTS)
from deploy_support import REPO_ROOT, require_tool  # noqa: E402
from test_deploy_monitoring import dashboard, dashboard_targets, substitute_variables  # noqa: E402

RULES_FILE = REPO_ROOT / "deploy" / "k8s" / "prometheus" / "rules.yml"
NAMESPACE = "c3-render-test"
#: Seconds: Prometheus start-up, all dashboard data present, rules evaluated.
START_TIMEOUT = 20.0
DATA_TIMEOUT = 30.0
RULES_TIMEOUT = 15.0


class Prometheus:
    """A Prometheus server process on 127.0.0.1 with its own config, rules and TSDB in ``directory``."""

    def __init__(self, binary: str, directory: Path, scrape_targets: dict[str, list[tuple[str, str]]]):
        """``scrape_targets``: job name -> [(host:port, pod label)], all scraped at /metrics every 1 s."""
        self.binary = binary
        self.directory = directory
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = directory / "prometheus.log"
        self.process: subprocess.Popen | None = None
        self.started_at = 0.0  # time.monotonic() at start
        self._write_config(scrape_targets)

    def _write_config(self, scrape_targets) -> None:
        rules = yaml.safe_load(RULES_FILE.read_text())
        for group in rules["groups"]:
            group["interval"] = "1s"
        (self.directory / "rules.yml").write_text(yaml.safe_dump(rules, sort_keys=False))
        config = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
            "rule_files": ["rules.yml"],
            "scrape_configs": [
                {"job_name": job, "metrics_path": "/metrics",
                 "static_configs": [{"targets": [target], "labels": {"namespace": NAMESPACE, "pod": pod}}
                                    for target, pod in targets]}
                for job, targets in scrape_targets.items()],
        }
        (self.directory / "prometheus.yml").write_text(yaml.safe_dump(config, sort_keys=False))

    def start(self) -> None:
        self.started_at = time.monotonic()
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [self.binary, f"--config.file={self.directory / 'prometheus.yml'}",
                 f"--storage.tsdb.path={self.directory / 'data'}", f"--web.listen-address=127.0.0.1:{self.port}",
                 "--log.level=warn"],
                cwd=self.directory, stdout=log, stderr=subprocess.STDOUT)

    def wait_ready(self) -> None:
        def ready():
            if self.process.poll() is not None:
                raise RuntimeError(f"prometheus exited:\n{self.log_path.read_text()}")
            try:
                return requests.get(f"{self.url}/-/ready", timeout=1).status_code == 200
            except requests.RequestException:
                return False

        wait_for(ready, timeout=START_TIMEOUT, message="Prometheus to be ready")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def api(self, path: str, **params) -> dict:
        answer = requests.get(f"{self.url}/api/v1/{path}", params=params, timeout=5)
        body = answer.json()
        assert answer.status_code == 200 and body["status"] == "success", f"{path} {params}: {body}"
        return body["data"]

    def query(self, expr: str) -> list:
        """Instant query at now; the result samples (empty: no data)."""
        data = self.api("query", query=expr)
        return data["result"] if data["resultType"] in ("vector", "matrix") else [data["result"]]

    def rules(self) -> list[dict]:
        return [rule for group in self.api("rules")["groups"] for rule in group["rules"]]


def _spawn_api_without_redis(stack_env: dict, directory: Path) -> tuple[subprocess.Popen, str]:
    """An API replica whose Redis is unreachable: it starts, answers 503 and serves /metrics."""
    port = free_port()
    env = dict(stack_env, REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
               PROMETHEUS_MULTIPROC_DIR=str(directory / "api-without-redis-metrics"))
    with (directory / "api-without-redis.log").open("wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "render_core.cli", "api", "--bind", f"127.0.0.1:{port}",
                                    "--workers", "1"], env=env, stdout=log, stderr=subprocess.STDOUT)
    return process, f"http://127.0.0.1:{port}"


def _wait_answering(process: subprocess.Popen, url: str, log_path: Path) -> None:
    def answers():
        if process.poll() is not None:
            raise RuntimeError(log_path.read_text())
        try:
            return requests.get(f"{url}/healthz", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    wait_for(answers, timeout=START_TIMEOUT, message="the API without Redis to answer /healthz")


@pytest.fixture(scope="session")
def prometheus_binary() -> str:
    """Path of the prometheus server (skip, or fail under CI, before the stack starts)."""
    return require_tool("prometheus")


@pytest.fixture
def stack_scraped(prometheus_binary, api, worker, stack_env, tmp_path):
    """(Prometheus, API URL, URL of the API without Redis) with Prometheus scraping all three processes."""
    broken_process, broken_url = _spawn_api_without_redis(stack_env, tmp_path)
    prometheus = Prometheus(prometheus_binary, tmp_path, {
        "c3-render-api": [(api.removeprefix("http://"), "api-0"), (broken_url.removeprefix("http://"), "api-1")],
        "c3-render-worker": [(f"127.0.0.1:{stack_env['METRICS_PORT']}", "worker-0")],
    })
    try:
        prometheus.start()
        _wait_answering(broken_process, broken_url, tmp_path / "api-without-redis.log")
        prometheus.wait_ready()
        yield prometheus, api, broken_url
    finally:
        prometheus.stop()
        broken_process.terminate()
        broken_process.wait(15)


def _run_job_mix(api: str, broken_api: str, receiver) -> list[str]:
    """Submit jobs with every outcome the dashboard shows, plus 4xx and 5xx answers; returns the job ids."""
    gone = f"http://127.0.0.1:{free_port()}/gone"
    bodies = [
        {"message": "delivered", "notify_url": f"{receiver.url}/hook"},
        {"message": "undeliverable", "notify_url": gone},
        {"message": "failing", "fail": "failing on purpose"},
        {"message": "working", "seconds": 3},
    ]
    job_ids = []
    for body in bodies:
        answer = requests.post(f"{api}/echo", json=body, timeout=5)
        assert answer.status_code in (200, 201, 202), answer.text
        job_ids.append(answer.json()["id"])
    assert requests.get(f"{api}/status/{uuid.uuid4()}", timeout=5).status_code == 404
    assert requests.post(f"{broken_api}/echo", json={"message": "x"}, timeout=5).status_code == 503
    assert requests.get(f"{broken_api}/readyz", timeout=5).status_code == 503
    return job_ids


def _dashboard_queries() -> dict[str, str]:
    """PromQL of every dashboard target (Grafana variables replaced), keyed by "panel / refId"."""
    board = dashboard()
    return {f"{panel['title']} / {target.get('refId', '?')}": substitute_variables(target["expr"], board)
            for panel, target in dashboard_targets(board) if target.get("expr")}


def _queries_without_data(prometheus: Prometheus, queries: dict[str, str]) -> dict[str, str]:
    return {name: expr for name, expr in queries.items() if not prometheus.query(expr)}


def test_every_dashboard_query_and_rule_works_on_scraped_data(stack_scraped, receiver):
    prometheus, api, broken_api = stack_scraped
    job_ids = _run_job_mix(api, broken_api, receiver)
    wait_for(lambda: prometheus.query("c3_render_jobs_submitted_total"), timeout=DATA_TIMEOUT,
             message="the first scraped sample")
    first_sample_s = time.monotonic() - prometheus.started_at
    for job_id in job_ids:
        wait_terminal(api, job_id)

    queries = _dashboard_queries()
    assert len(queries) >= 20, sorted(queries)
    try:
        wait_for(lambda: not _queries_without_data(prometheus, queries), timeout=DATA_TIMEOUT, interval=1.0,
                 message="every dashboard query to return data")
    except AssertionError:
        missing = _queries_without_data(prometheus, queries)
        pytest.fail("dashboard queries without data:\n" + "\n".join(f"  {n}: {e}" for n, e in missing.items())
                    + "\n(GPU series exist at 0 once every worker process calls"
                    " render_core.obs.metrics.declare_series(registry.tasks.values()))")
    print(f"\nPrometheus started -> first sample {first_sample_s:.1f} s, "
          f"every dashboard query has data {time.monotonic() - prometheus.started_at:.1f} s")

    tasks = prometheus.api("label/task/values", **{"match[]": 'c3_render_jobs_submitted_total{namespace=~".*"}'})
    assert "echo" in tasks, tasks  # the dashboard's task variable

    _assert_rules_healthy(prometheus)
    _assert_recording_rules_have_data(prometheus)
    no_worker = next(rule for rule in prometheus.rules() if rule.get("name") == "C3RenderNoWorker")
    assert no_worker["state"] == "inactive", no_worker


def _assert_rules_healthy(prometheus: Prometheus) -> None:
    """Every rule evaluated at least once, without error."""
    expected = sum(len(group["rules"]) for group in yaml.safe_load(RULES_FILE.read_text())["groups"])

    def evaluated():
        rules = prometheus.rules()
        return rules if len(rules) == expected and all(rule["health"] != "unknown" for rule in rules) else None

    rules = wait_for(evaluated, timeout=RULES_TIMEOUT, interval=0.5, message="every rule to be evaluated")
    broken = {rule["name"]: rule.get("lastError") for rule in rules if rule["health"] != "ok"}
    assert not broken, f"rules failing on real data: {broken}"


def _assert_recording_rules_have_data(prometheus: Prometheus) -> None:
    records = {rule["name"] for rule in prometheus.rules() if rule["type"] == "recording"}
    assert records

    def empty():
        return sorted(name for name in records if not prometheus.query(name))

    try:  # a rate() needs two scrapes inside its window: give the next evaluation its chance
        wait_for(lambda: not empty(), timeout=RULES_TIMEOUT, interval=0.5, message="recording rules to have output")
    except AssertionError:
        pytest.fail(f"recording rules without output: {empty()}")
    saturation = prometheus.query("namespace:c3_render_worker_saturation:ratio")
    assert saturation[0]["metric"].get("namespace") == NAMESPACE, saturation
