"""Fixtures of the deploy tests: the tools and the rendered Kustomize overlays."""

from __future__ import annotations

import pytest

from deploy_support import K8S_DIR, OVERLAYS, kustomize_build, require_module, require_tool


@pytest.fixture(scope="session")
def kubectl() -> str:
    """Path of kubectl (its `kustomize` subcommand renders the overlays)."""
    return require_tool("kubectl")


@pytest.fixture(scope="session")
def promtool() -> str:
    """Path of promtool (Prometheus rule checks and unit tests)."""
    return require_tool("promtool")


@pytest.fixture(scope="session")
def yaml_module():
    return require_module("yaml", "pyyaml")


@pytest.fixture(scope="session")
def rendered(kubectl, yaml_module) -> dict[str, list[dict]]:
    """Objects rendered from the base and from every overlay, by name ("base", "dev", ...)."""
    assert OVERLAYS, f"no overlays under {K8S_DIR / 'overlays'}"
    builds = {"base": kustomize_build(kubectl, K8S_DIR / "base")}
    for overlay in OVERLAYS:
        builds[overlay] = kustomize_build(kubectl, K8S_DIR / "overlays" / overlay)
    return builds
