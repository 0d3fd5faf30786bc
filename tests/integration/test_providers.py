"""GPU providers against real HTTP servers: the fake Comput3 API and its nodes, static nodes, local."""

from __future__ import annotations

import time
import uuid

import pytest
import requests

from render_core.devtools.devservices import free_port
from render_core.net.http import Timeouts
from render_core.gpu.providers.base import LaunchError
from render_core.gpu.providers.comput3 import Comput3Provider
from render_core.gpu.providers.errors import ProviderError
from render_core.gpu.providers.local import LocalProvider
from render_core.gpu.providers.static import StaticProvider
from support.fake_comput3 import FakeComput3
from support.servers import FileServer

KEY = "test-c3-key"
BACKOFF = [0.01, 0.02, 0.03]
QUICK = Timeouts(connect=2.0, read=5.0)


@pytest.fixture
def fake(request):
    """A running fake; FakeComput3 options come from ``parametrize("fake", [{...}], indirect=True)``.

    Fails the test when it leaves instances running (after stopping them).
    """
    options = getattr(request, "param", {})
    with FakeComput3(KEY, **options) as server:
        yield server
        leftover = server.running()
        for item in leftover:  # clean up so one failing test does not spill into the next
            make_provider(server).stop(item["workload"])
        assert not leftover, f"the test left instances running: {leftover}"


def make_provider(fake: FakeComput3, sleeps: list | None = None, *, api_key: str = KEY,
                  **overrides) -> Comput3Provider:
    """A provider aimed at ``fake`` whose waits between launch tries are recorded, not slept."""
    options = dict(node_url_template=fake.node_url_template, ui_url_template=fake.ui_url_template,
                   launch_backoff=BACKOFF, health_timeout=2.0, api_timeouts=QUICK,
                   sleep=sleeps.append if sleeps is not None else (lambda seconds: None))
    options.update(overrides)
    return Comput3Provider(fake.api_url, api_key, **options)


def an_hour_from_now() -> float:
    return time.time() + 3600


# --------------------------------------------------------------------------- comput3: the happy path

def test_launch_list_health_stop(fake):
    provider = make_provider(fake)
    instance = provider.launch("media:fast", expires_at=an_hour_from_now())

    served = fake.instance(instance.id)
    host = served.node + ".comput3.ai"
    assert instance.workload == "media:fast" and instance.provider == "comput3"
    assert instance.expires_at == float(int(instance.expires_at)) and instance.expires_at == served.expires
    assert instance.node.base_url == f"{fake.url}/n/{host}"
    assert instance.node.url_for("csm") == f"{fake.url}/n/{host}/csm/"
    assert instance.node.url_for("whisper") == f"{fake.url}/n/{host}/whisper/"
    assert instance.node.url_for("ui") == f"{fake.url}/ui/{host}/"
    assert instance.node.headers == {"X-C3-API-KEY": KEY} and instance.node.instance_id == instance.id
    assert instance.extra == {"node": host, "workload_key": served.workload_key}

    listed = {item.id: item for item in provider.list_running()}
    assert set(listed) == {instance.id}
    assert listed[instance.id].workload == "media:fast"
    assert listed[instance.id].launched_at == served.created and listed[instance.id].expires_at == served.expires
    assert listed[instance.id].node.base_url == instance.node.base_url
    assert provider.health(instance)

    provider.stop(instance.id)
    assert fake.status(served) == "stopped" and fake.stop_calls == 1
    assert provider.list_running() == []
    assert not provider.health(instance)

    api_calls = [call for call in fake.calls if call["path"].startswith("/api/v0/")]
    assert {call["path"] for call in api_calls} == {"/api/v0/launch", "/api/v0/workloads", "/api/v0/stop"}
    for call in api_calls:
        assert call["headers"]["X-C3-API-KEY"] == KEY
        assert call["headers"]["Content-Type"] == "application/json"
    launch_body = next(call["body"] for call in api_calls if call["path"] == "/api/v0/launch")
    assert f'"expires": {int(instance.expires_at)}' in launch_body and '"type": "media:fast"' in launch_body


@pytest.mark.parametrize("fake", [{"launch_delay": 600}], indirect=True)
def test_node_is_unhealthy_until_it_has_booted(fake):
    provider = make_provider(fake)
    instance = provider.launch("media:fast", expires_at=an_hour_from_now())
    assert [item.id for item in provider.list_running()] == [instance.id]
    assert not provider.health(instance)  # listed, but the node answers 503 while it boots
    fake.advance(600)
    assert provider.health(instance)
    provider.stop(instance.id)


@pytest.mark.parametrize("fake", [{"node_suffix": True}, {"node_suffix": False}], indirect=True)
def test_node_names_with_or_without_the_comput3_domain_reach_the_same_node(fake):
    provider = make_provider(fake)
    instance = provider.launch("media:fast", expires_at=an_hour_from_now())
    host = fake.instance(instance.id).node + ".comput3.ai"
    assert instance.node.base_url == f"{fake.url}/n/{host}"
    assert provider.list_running()[0].node.base_url == instance.node.base_url
    assert provider.health(instance)
    provider.stop(instance.id)


# --------------------------------------------------------------------------- comput3: launch failures

@pytest.mark.parametrize("kind", ["html", "html502", "500"])
def test_launch_is_retried_after_transient_failures(fake, kind):
    sleeps: list[float] = []
    provider = make_provider(fake, sleeps)
    fake.fail_next_launches(2, kind)
    instance = provider.launch("media:fast", expires_at=an_hour_from_now())
    assert fake.launch_calls == 3 and sleeps == BACKOFF[:2]
    assert [item.id for item in provider.list_running()] == [instance.id]
    provider.stop(instance.id)


def test_launch_gives_up_with_a_readable_error(fake):
    sleeps: list[float] = []
    provider = make_provider(fake, sleeps, launch_attempts=3)
    fake.fail_next_launches(5, "html502")
    with pytest.raises(LaunchError) as caught:
        provider.launch("media:fast", expires_at=an_hour_from_now())
    message = str(caught.value)
    assert "after 3 attempt(s)" in message and "HTTP 502" in message and "Bad gateway" in message
    assert "<" not in message and "window.cf" not in message and "font-family" not in message
    assert fake.launch_calls == 3 and sleeps == BACKOFF[:2]


def test_last_backoff_value_is_reused_for_extra_attempts(fake):
    sleeps: list[float] = []
    provider = make_provider(fake, sleeps, launch_attempts=5)
    fake.fail_next_launches(5, "500")
    with pytest.raises(LaunchError, match="HTTP 500"):
        provider.launch("media:fast", expires_at=an_hour_from_now())
    assert sleeps == [0.01, 0.02, 0.03, 0.03]


def test_answer_without_a_node_is_retried_and_the_orphan_stays_visible(fake):
    provider = make_provider(fake)
    fake.fail_next_launches(1, "incomplete")
    instance = provider.launch("media:fast", expires_at=an_hour_from_now())
    listed = {item.id for item in provider.list_running()}
    assert instance.id in listed and len(listed) == 2  # the pool's reconcile stops the orphan
    for workload_id in listed:
        provider.stop(workload_id)


def test_unknown_workload_type_fails_with_the_api_message(fake):
    provider = make_provider(fake, launch_attempts=2)
    with pytest.raises(LaunchError, match="HTTP 400.*unknown workload type"):
        provider.launch("no-such:type", expires_at=an_hour_from_now())


def test_wrong_key_is_a_clear_error_and_not_retried(fake):
    provider = make_provider(fake, api_key="wrong-key")
    with pytest.raises(LaunchError, match="refused the API key.*C3_API_KEY"):
        provider.launch("media:fast", expires_at=an_hour_from_now())
    assert fake.launch_calls == 1
    with pytest.raises(ProviderError, match="refused the API key.*C3_API_KEY"):
        provider.list_running()
    with pytest.raises(ProviderError, match="HTTP 401"):
        provider.stop(str(uuid.uuid4()))


def test_unreachable_api():
    closed = f"http://127.0.0.1:{free_port()}/api/v0"
    provider = Comput3Provider(closed, KEY, launch_backoff=[0.0], api_timeouts=QUICK, sleep=lambda s: None)
    with pytest.raises(LaunchError, match="after 2 attempt.*could not connect"):
        provider.launch("media:fast", expires_at=an_hour_from_now())
    with pytest.raises(ProviderError, match="list workloads.*could not connect"):
        provider.list_running()
    with pytest.raises(ProviderError, match="stop workload"):
        provider.stop("abc")


# --------------------------------------------------------------------------- comput3: stop and health

@pytest.mark.parametrize("fake", [{"empty_stop_body": True}, {"empty_stop_body": False}], indirect=True)
def test_stopping_unknown_or_stopped_workloads_is_fine(fake):
    provider = make_provider(fake)
    provider.stop(str(uuid.uuid4()))
    instance = provider.launch("media:fast", expires_at=an_hour_from_now())
    provider.stop(instance.id)
    provider.stop(instance.id)
    assert fake.stop_calls == 3 and fake.running() == []


@pytest.mark.parametrize("still_listed", [False, True])
def test_health_fails_once_the_node_dies(fake, still_listed):
    provider = make_provider(fake)
    instance = provider.launch("media:fast", expires_at=an_hour_from_now())
    assert provider.health(instance)
    fake.kill(instance.id, still_listed=still_listed)
    assert not provider.health(instance)
    assert (instance.id in {item.id for item in provider.list_running()}) is still_listed
    provider.stop(instance.id)


def test_expired_instances_are_not_listed(fake):
    provider = make_provider(fake)
    instance = provider.launch("media:fast", expires_at=time.time() + 60)
    fake.advance(120)
    assert provider.list_running() == []
    assert not provider.health(instance)
    assert 58 < fake.billed_seconds() <= 60  # billing ends at the expiry
    provider.stop(instance.id)


def test_health_relies_on_the_node_while_the_api_is_down(fake):
    instance = make_provider(fake).launch("media:fast", expires_at=an_hour_from_now())
    api_down = make_provider(fake)
    api_down.api_url = f"http://127.0.0.1:{free_port()}/api/v0"
    assert api_down.health(instance)
    fake.kill(instance.id, still_listed=True)
    assert not api_down.health(instance)
    make_provider(fake).stop(instance.id)


def test_fake_serves_balance_and_types_to_the_right_key_only(fake):
    assert requests.get(fake.api_url + "/types", headers={"X-C3-API-KEY": KEY}, timeout=5).json() == [
        "media:fast", "ollama_webui:fast"]
    assert requests.get(fake.api_url + "/balance", headers={"X-C3-API-KEY": KEY}, timeout=5).json() == {
        "balance": 100.0}
    assert requests.get(fake.api_url + "/balance", timeout=5).status_code == 401


# --------------------------------------------------------------------------- static and local

@pytest.fixture
def nodes():
    with FileServer() as server:
        for name in ("gpu1", "gpu2"):
            server.add(f"/{name}/", b"ok", "text/plain")
        yield server


def test_static_provider_hands_out_distinct_nodes(nodes):
    urls = [nodes.url + "/gpu1", nodes.url + "/gpu2"]
    provider = StaticProvider(urls, health_timeout=2.0)
    first = provider.launch("media:fast", expires_at=an_hour_from_now())
    second = provider.launch("media:fast", expires_at=an_hour_from_now(), taken={first.id})
    assert [first.node.base_url, second.node.base_url] == urls
    assert first.id.startswith("static-") and first.id != second.id and first.node.instance_id == first.id
    assert second.node.url_for("csm") == urls[1] + "/csm/" and second.node.url_for("ui") == urls[1] + "/"
    with pytest.raises(LaunchError, match="all 2 static nodes are in use"):
        provider.launch("media:fast", expires_at=an_hour_from_now(), taken={first.id, second.id})
    provider.stop(first.id)
    assert [item.id for item in provider.list_running()] == [first.id, second.id]
    assert provider.health(first) and provider.health(second)


def test_static_node_health_fails_when_it_does_not_answer_200(nodes):
    missing = StaticProvider([nodes.url + "/gpu3"], health_timeout=2.0)
    closed = StaticProvider([f"http://127.0.0.1:{free_port()}"], health_timeout=2.0)
    for provider in (missing, closed):
        assert not provider.health(provider.launch("media:fast", expires_at=an_hour_from_now()))


def test_local_provider():
    provider = LocalProvider()
    instance = provider.launch("media:fast", expires_at=an_hour_from_now())
    assert provider.unlimited and instance.id == "local" and instance.node.local
    assert provider.health(instance) and provider.list_running() == []
    provider.stop(instance.id)
