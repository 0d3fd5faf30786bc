"""Helpers for the deploy tests: tool lookup, kustomize rendering, manifest queries.

The tools (kubectl, promtool) come from ``deploy/tools/ensure-tools.sh``. When one
is missing, a test skips with the command that installs it, except under CI
(``CI`` set), where it fails: CI must never skip these checks.
"""

from __future__ import annotations

import importlib
import ipaddress
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterable

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY_DIR = REPO_ROOT / "deploy"
K8S_DIR = DEPLOY_DIR / "k8s"
OVERLAYS = sorted(p.parent.name for p in (K8S_DIR / "overlays").glob("*/kustomization.yaml"))
ENSURE_TOOLS = "deploy/tools/ensure-tools.sh"

Manifest = dict[str, Any]


def unavailable(message: str) -> None:
    """Skip the test with ``message``, or fail it under CI."""
    if os.environ.get("CI"):
        pytest.fail(f"{message} (CI must not skip this test)")
    pytest.skip(message)


def find_tool(name: str) -> str | None:
    """Path of ``name``: the test venv's copy first (pinned), else the one on PATH."""
    beside_python = Path(sys.executable).parent / name
    if beside_python.is_file() and os.access(beside_python, os.X_OK):
        return str(beside_python)
    return shutil.which(name)


def require_tool(name: str) -> str:
    """Path of a command-line tool, or skip/fail saying how to install it."""
    path = find_tool(name)
    if path is None:
        unavailable(f"{name} is not installed; run `{ENSURE_TOOLS}` to install it")
    return path


def require_module(name: str, pip_name: str) -> Any:
    """Import ``name``, or skip/fail saying which pip package provides it."""
    try:
        return importlib.import_module(name)
    except ImportError:
        unavailable(f"Python module {name} is missing; pip install the pinned {pip_name}")


def run(args: list[str], cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess:
    """Run a command; the result carries stdout/stderr as text."""
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=120)


def kustomize_build(kubectl: str, directory: Path) -> list[Manifest]:
    """The objects `kubectl kustomize` renders from ``directory``."""
    import yaml

    result = run([kubectl, "kustomize", str(directory)])
    assert result.returncode == 0, f"kubectl kustomize {directory} failed:\n{result.stderr}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def objects(docs: Iterable[Manifest], kind: str) -> list[Manifest]:
    """Every object of ``kind``."""
    return [doc for doc in docs if doc["kind"] == kind]


def the_object(docs: Iterable[Manifest], kind: str, name: str) -> Manifest:
    """The one object of ``kind`` called ``name`` (generated names keep their prefix)."""
    found = [doc for doc in objects(docs, kind) if doc["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} named {name}, found {len(found)}"
    return found[0]


def generated(docs: Iterable[Manifest], kind: str, prefix: str) -> Manifest | None:
    """The ConfigMap/Secret generated as ``prefix`` (with or without hash suffix), if any."""
    for doc in objects(docs, kind):
        name = doc["metadata"]["name"]
        if name == prefix or (name.startswith(prefix + "-") and len(name) == len(prefix) + 11):
            return doc
    return None


def pod_spec(workload: Manifest) -> Manifest:
    """The pod spec of a Deployment/StatefulSet/Job."""
    return workload["spec"]["template"]["spec"]


def workloads(docs: Iterable[Manifest]) -> list[Manifest]:
    """Objects that run pods."""
    return [doc for doc in docs if doc["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job")]


def selector_matches(selector: Manifest, labels: dict[str, str]) -> bool:
    """Whether a label selector (matchLabels + matchExpressions, or a plain map) selects ``labels``."""
    if "matchLabels" not in selector and "matchExpressions" not in selector:
        selector = {"matchLabels": selector}
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator, values = expression["key"], expression["operator"], expression.get("values", [])
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and labels.get(key) in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


def env_value(container: Manifest, config: dict[str, str], name: str) -> str | None:
    """A container's value for ``name``: its own env first, else the ConfigMap ``config``."""
    for entry in container.get("env", []):
        if entry["name"] == name:
            return entry.get("value")
    return config.get(name)


def ip_allowed_by(rule: Manifest, address: str) -> bool:
    """Whether one egress rule's ipBlocks admit ``address``."""
    ip = ipaddress.ip_address(address)
    for peer in rule.get("to", []):
        block = peer.get("ipBlock")
        if block is None:
            continue
        network = ipaddress.ip_network(block["cidr"])
        if ip.version != network.version or ip not in network:
            continue
        if any(ip in ipaddress.ip_network(cidr) for cidr in block.get("except", [])
               if ipaddress.ip_network(cidr).version == ip.version):
            continue
        return True
    return False
