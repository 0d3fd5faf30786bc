"""Provider pieces that need no server: host names, STATIC_NODES syntax, error text, factories."""

from __future__ import annotations

import inspect

import pytest

from render_core.gpu.providers.comput3 import Comput3Provider, _excerpt, _unix_time, node_hostname
from render_core.gpu.providers.errors import ProviderError
from render_core.gpu.providers.local import LocalProvider
from render_core.gpu.providers.static import StaticNode, StaticProvider, parse_static_nodes
from render_core.sdk.registry import load_registry
from render_core.config.settings import Settings


@pytest.mark.parametrize("given, expected", [
    ("abc123", "abc123.comput3.ai"),
    ("abc123.comput3.ai", "abc123.comput3.ai"),
    ("https://abc123.comput3.ai/", "abc123.comput3.ai"),
    ("gpu.example.org.", "gpu.example.org"),
    ("", None),
    ("https://abc/some/path", "abc.comput3.ai"),
    ("x{node}", None),
    ("user@host", None),
    ("two words", None),
])
def test_node_hostname(given, expected):
    assert node_hostname(given) == expected


def test_node_urls_follow_the_templates():
    provider = Comput3Provider("https://api.example/api/v0", "k")
    node = provider.node_for("abc", "w-1")
    assert node.base_url == "https://abc.comput3.ai"
    assert node.url_for("csm") == "https://abc.comput3.ai/csm/"
    assert node.url_for("ui") == "https://ui-abc.comput3.ai/"
    assert node.headers == {"X-C3-API-KEY": "k"} and node.instance_id == "w-1"
    assert provider.node_for("", "w-2").base_url == ""


def test_html_error_pages_are_reduced_to_their_text():
    page = ("<html><head><style>p{color:red}</style><script>var x = 1;</script></head>"
            "<body><h1>502</h1>\n<p>Bad &amp; gateway</p></body></html>")
    assert _excerpt(page) == "502 Bad & gateway"
    assert len(_excerpt("x" * 500)) == 200


def test_times_from_numbers_and_iso_strings():
    assert _unix_time(1700000000) == 1700000000.0
    assert _unix_time("1700000000.5") == 1700000000.5
    assert _unix_time("2023-11-14T22:13:20Z") == 1700000000.0
    assert _unix_time(None) is None and _unix_time("soon") is None


def test_static_nodes_syntax():
    nodes = parse_static_nodes(" http://gpu1:8000/ , http://gpu2:8000|http://gpu2:8188/ ,")
    assert nodes == [StaticNode("http://gpu1:8000", "http://gpu1:8000"),
                     StaticNode("http://gpu2:8000", "http://gpu2:8188")]


@pytest.mark.parametrize("text, problem", [
    ("gpu1:8000", "not an http"),
    ("http://gpu1|ftp://gpu1", "not an http"),
    ("http://gpu1,http://gpu1/", "more than once"),
])
def test_bad_static_nodes_are_refused(text, problem):
    with pytest.raises(ProviderError, match=problem):
        parse_static_nodes(text)


def test_static_node_key_is_sent_both_ways():
    provider = StaticProvider(["http://gpu1:8000|http://gpu1:8188"], "secret")
    node = provider.launch("media:fast", expires_at=0).node
    assert node.headers == {"X-C3-API-KEY": "secret", "Authorization": "Bearer secret"}
    assert node.url_for("whisper") == "http://gpu1:8000/whisper/" and node.url_for("ui") == "http://gpu1:8188/"
    assert StaticProvider(["http://gpu1"]).launch("x", expires_at=0).node.headers == {}


def test_builtin_factories_build_the_selected_provider():
    registry = load_registry(only="")
    comput3 = registry.provider("comput3", Settings.from_env({
        "C3_API_KEY": "k", "C3_LAUNCH_BACKOFF": "1,2", "C3_LAUNCH_ATTEMPTS": "4", "HEALTH_TIMEOUT": "3"}))
    assert isinstance(comput3, Comput3Provider)
    assert (comput3.launch_backoff, comput3.launch_attempts, comput3.health_timeout) == ([1.0, 2.0], 4, 3.0)
    assert comput3.api_url == "https://api.comput3.ai/api/v0"
    static = registry.provider("static", Settings.from_env({"STATIC_NODES": "http://a,http://b"}))
    assert [node.url for node in static.nodes] == ["http://a", "http://b"]
    assert isinstance(registry.provider("local", Settings.from_env({})), LocalProvider)


@pytest.mark.parametrize("name, environ, problem", [
    ("comput3", {}, "needs C3_API_KEY"),
    ("static", {}, "needs at least one node URL in STATIC_NODES"),
])
def test_misconfigured_providers_say_what_is_missing(name, environ, problem):
    with pytest.raises(ProviderError, match=problem):
        load_registry(only="").provider(name, Settings.from_env(environ))


@pytest.mark.parametrize("provider_class", [Comput3Provider, StaticProvider, LocalProvider])
def test_every_builtin_provider_declares_the_protocol(provider_class):
    """name, unlimited and always_running are declared (no caller probes them) and launch takes ``taken``."""
    for attribute, kind in (("name", str), ("unlimited", bool), ("always_running", bool)):
        assert isinstance(getattr(provider_class, attribute), kind), attribute
    parameters = inspect.signature(provider_class.launch).parameters
    assert parameters["taken"].kind is inspect.Parameter.KEYWORD_ONLY
    assert parameters["expires_at"].kind is inspect.Parameter.KEYWORD_ONLY
    for method in ("stop", "list_running", "health", "authorize"):
        assert callable(getattr(provider_class, method)), method
