"""Prometheus rules and the Grafana dashboard.

promtool checks the rule file, runs the alert unit tests in promtool/alerts_test.yml,
and checks every dashboard query rewritten as a recording rule (Grafana variables
replaced by sample values). Metric names must be ones the code (render_core, render_api) defines.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import re
from pathlib import Path

import pytest

from deploy_support import DEPLOY_DIR, K8S_DIR, REPO_ROOT, run

RULES_FILE = K8S_DIR / "prometheus" / "rules.yml"
PROMETHEUS_RULE_FILE = K8S_DIR / "prometheus" / "prometheusrule.yaml"
DASHBOARD_FILE = K8S_DIR / "grafana" / "c3-render.json"
ALERT_TESTS = Path(__file__).parent / "promtool" / "alerts_test.yml"
CODE_DIRS = (REPO_ROOT / "render_core", REPO_ROOT / "render_api")

REQUIRED_ALERTS = {
    "C3RenderJobFailureRatioHigh", "C3RenderQueueGrowingWhileWorkersIdle", "C3RenderStageLatencyAboveSLO",
    "C3RenderWebhookFailures", "C3RenderGpuIdlePastTimeout", "C3RenderWorkerHeartbeatMissing",
}

#: Metric families the dashboard must show (the issue's list).
DASHBOARD_METRICS = {
    "c3_render_http_requests_total", "c3_render_http_request_duration_seconds", "c3_render_jobs_submitted_total",
    "c3_render_jobs_finished_total", "c3_render_jobs_in_progress", "c3_render_stage_duration_seconds",
    "c3_render_queue_depth", "c3_render_queue_oldest_age_seconds", "c3_render_webhook_deliveries_total",
    "c3_render_webhook_attempts_total", "c3_render_worker_threads", "c3_render_worker_heartbeat_timestamp_seconds",
    "c3_render_gpu_instances", "c3_render_gpu_launches_total", "c3_render_gpu_launch_failures_total",
    "c3_render_gpu_billed_seconds_total",
}

#: Grafana's built-in variables -> a value valid in PromQL.
BUILTIN_VARIABLES = {"__rate_interval": "5m", "__interval": "1m", "__range": "1h", "__range_s": "3600"}

METRIC_NAME = re.compile(r"(?<![\w:])c3_render_[a-z0-9_]+(?![\w:])")
HISTOGRAM_SUFFIX = re.compile(r"_(bucket|sum|count)$")


def load_yaml(path: Path):
    import yaml

    return yaml.safe_load(path.read_text())


def dashboard() -> dict:
    return json.loads(DASHBOARD_FILE.read_text())


def dashboard_targets(board: dict) -> list[tuple[dict, dict]]:
    """(panel, target) for every query of every panel, rows included."""
    found = []
    for panel in board["panels"]:
        for inner in [panel, *panel.get("panels", [])]:
            found += [(inner, target) for target in inner.get("targets", [])]
    return found


def substitute_variables(expr: str, board: dict) -> str:
    """``expr`` with every Grafana variable replaced by a sample value (".*" for regex matchers)."""
    values = dict(BUILTIN_VARIABLES)
    for variable in board["templating"]["list"]:
        values[variable["name"]] = variable.get("allValue") or "prometheus"
    names = sorted(values, key=len, reverse=True)
    pattern = re.compile(r"\$\{(" + "|".join(names) + r")(?::\w+)?\}|\$(" + "|".join(names) + r")\b")
    result = pattern.sub(lambda m: values[m.group(1) or m.group(2)], expr)
    assert "$" not in result, f"unknown Grafana variable in: {expr}"
    return result


def metric_families(text: str) -> set[str]:
    """c3_render_* metric names used in PromQL ``text`` (histogram suffixes removed)."""
    return {HISTOGRAM_SUFFIX.sub("", name) for name in METRIC_NAME.findall(text)}


def defined_metrics() -> set[str]:
    """Metric names written as string literals in render_core and render_api (metrics.py, collectors)."""
    names = set()
    for module in (path for directory in CODE_DIRS for path in directory.rglob("*.py")):
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and METRIC_NAME.fullmatch(node.value):
                names.add(node.value)
    return names


def rule_exprs() -> list[str]:
    return [rule["expr"] for group in load_yaml(RULES_FILE)["groups"] for rule in group["rules"]]


# ---- rules ------------------------------------------------------------------------------------

def test_rule_file_passes_promtool_check(promtool):
    result = run([promtool, "check", "rules", str(RULES_FILE)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_alert_unit_tests_pass(promtool):
    result = run([promtool, "test", "rules", str(ALERT_TESTS)], cwd=ALERT_TESTS.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


def test_promtool_rejects_a_broken_rule(promtool, tmp_path):
    """The checks can fail: a rule with a PromQL syntax error is refused."""
    broken = tmp_path / "broken.yml"
    broken.write_text("groups:\n  - name: x\n    rules:\n      - record: x:y\n        expr: sum(rate(foo[5m])\n")
    assert run([promtool, "check", "rules", str(broken)]).returncode != 0


def test_required_alerts_exist_with_severity_and_summary():
    alerts = {rule["alert"]: rule for group in load_yaml(RULES_FILE)["groups"]
              for rule in group["rules"] if "alert" in rule}
    assert REQUIRED_ALERTS <= set(alerts), REQUIRED_ALERTS - set(alerts)
    for name, rule in alerts.items():
        assert rule["labels"]["severity"] in ("warning", "critical"), name
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], name


def test_alert_unit_tests_cover_at_least_two_alerts():
    tested = {case["alertname"] for test in load_yaml(ALERT_TESTS)["tests"]
              for case in test.get("alert_rule_test", []) if case.get("exp_alerts")}
    assert len(tested & REQUIRED_ALERTS) >= 2


def test_gpu_idle_alert_waits_longer_than_the_idle_timeout():
    alert = next(rule for group in load_yaml(RULES_FILE)["groups"] for rule in group["rules"]
                 if rule.get("alert") == "C3RenderGpuIdlePastTimeout")
    wait_seconds = int(alert["for"].rstrip("m")) * 60
    settings = dict(line.split("=", 1) for line in (K8S_DIR / "base" / "settings.env").read_text().splitlines()
                    if line and not line.startswith("#"))
    monitor_period_seconds = 15
    assert wait_seconds > float(settings["GPU_IDLE_TIMEOUT"]) + monitor_period_seconds


def test_prometheus_rule_object_matches_rule_file():
    spec = importlib.util.spec_from_file_location("make_prometheusrule", DEPLOY_DIR / "tools" / "make-prometheusrule.py")
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    assert PROMETHEUS_RULE_FILE.read_text() == generator.render(RULES_FILE.read_text()), (
        "prometheusrule.yaml is stale: run python3 deploy/tools/make-prometheusrule.py")


def test_rules_use_only_metrics_the_code_defines():
    unknown = metric_families("\n".join(rule_exprs())) - defined_metrics()
    assert not unknown, f"not defined in render_core/render_api: {unknown}"


# ---- dashboard --------------------------------------------------------------------------------

def test_dashboard_takes_its_datasource_from_a_variable():
    board = dashboard()
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for panel, target in dashboard_targets(board):
        for holder in (panel, target):
            assert holder["datasource"]["uid"] == "${datasource}", panel["title"]
    for variable in variables.values():
        if variable["type"] == "query":
            assert variable["datasource"]["uid"] == "${datasource}"


def test_dashboard_panels_have_unique_ids_and_titles():
    board = dashboard()
    panels = [p for top in board["panels"] for p in [top, *top.get("panels", [])]]
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    assert all(p.get("title") for p in panels)


def test_dashboard_shows_every_metric_family():
    used = metric_families("\n".join(t["expr"] for _, t in dashboard_targets(dashboard())))
    assert DASHBOARD_METRICS <= used, f"not on the dashboard: {DASHBOARD_METRICS - used}"
    assert used <= defined_metrics(), f"not defined in render_core/render_api: {used - defined_metrics()}"


def test_dashboard_queries_are_valid_promql(promtool, tmp_path):
    import yaml

    board = dashboard()
    rules = [{"record": f"dashboard:panel_{panel['id']}:{target['refId'].lower()}",
              "expr": substitute_variables(target["expr"], board)}
             for panel, target in dashboard_targets(board)]
    assert len(rules) >= 20
    rule_file = tmp_path / "dashboard-queries.yml"
    rule_file.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = run([promtool, "check", "rules", str(rule_file)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_variable_substitution_leaves_no_placeholder():
    board = dashboard()
    expr = 'sum(rate(x{namespace=~"$namespace",task=~"${task}"}[$__rate_interval]))'
    assert substitute_variables(expr, board) == 'sum(rate(x{namespace=~".*",task=~".*"}[5m]))'
    with pytest.raises(AssertionError):
        substitute_variables("rate(x[$unknown])", board)
