#!/usr/bin/env python3
"""Write deploy/k8s/prometheus/prometheusrule.yaml from rules.yml.

rules.yml is the one source of the alert and recording rules (a plain
Prometheus rule file, checked by promtool); prometheus-operator wants the same
groups wrapped in a PrometheusRule object. Run after editing rules.yml:

    python3 deploy/tools/make-prometheusrule.py

The deploy tests fail while the two disagree. Needs PyYAML.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

PROMETHEUS_DIR = Path(__file__).resolve().parents[1] / "k8s" / "prometheus"
RULES_FILE = PROMETHEUS_DIR / "rules.yml"
OUTPUT_FILE = PROMETHEUS_DIR / "prometheusrule.yaml"

HEADER = "# Generated from rules.yml by deploy/tools/make-prometheusrule.py: do not edit.\n"


def prometheus_rule(rules_text: str) -> dict:
    """The PrometheusRule object holding the groups of a rule file's text."""
    groups = yaml.safe_load(rules_text)["groups"]
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "c3-render", "labels": {"app.kubernetes.io/name": "c3-render"}},
        "spec": {"groups": groups},
    }


class _BlockDumper(yaml.SafeDumper):
    """Writes multi-line strings (PromQL, descriptions) as literal blocks."""


def _represent_text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _represent_text)


def render(rules_text: str) -> str:
    """The text of prometheusrule.yaml for a rule file's text."""
    body = yaml.dump(prometheus_rule(rules_text), Dumper=_BlockDumper, sort_keys=False, width=100,
                     allow_unicode=True)
    return HEADER + body


def main() -> int:
    OUTPUT_FILE.write_text(render(RULES_FILE.read_text()))
    print(f"wrote {OUTPUT_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
