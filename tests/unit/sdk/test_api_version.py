"""The declared plugin API range against the core's version."""

from types import SimpleNamespace

import pytest

from render_core.sdk.api_version import PLUGIN_API_VERSION, declared_range, incompatibility


@pytest.mark.parametrize("declared", [">=1.0,<2", "~=1.0", "==1.*", ">=0.9"])
def test_ranges_holding_the_api_version_are_compatible(declared):
    assert incompatibility(SimpleNamespace(C3_RENDER_PLUGIN_API=declared), "1.0") is None


@pytest.mark.parametrize("declared, api", [(">=1.0,<2", "2.0"), (">=1.1", "1.0"), ("<1", "1.0")])
def test_ranges_missing_the_api_version_name_both(declared, api):
    reason = incompatibility(SimpleNamespace(C3_RENDER_PLUGIN_API=declared), api)
    assert f"supports plugin API {declared}" in reason and f"provides plugin API {api}" in reason


def test_no_declaration_is_compatible_and_reported_as_none():
    assert incompatibility(SimpleNamespace()) is None and declared_range(SimpleNamespace()) is None


def test_a_non_string_declaration_is_refused():
    assert "must be a version range string" in incompatibility(SimpleNamespace(C3_RENDER_PLUGIN_API=1.0))


def test_the_api_version_is_a_plain_major_minor():
    major, minor = PLUGIN_API_VERSION.split(".")
    assert major.isdigit() and minor.isdigit()
