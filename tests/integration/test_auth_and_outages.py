"""API key on/off through real gunicorn, and answers while Redis is down."""

import pytest
import requests

from support.stack import start_api, stop as _stop
from render_core.devtools.devservices import RedisServer

KEY = "s3cret-key"


@pytest.fixture(scope="module")
def locked_api(stack_env, services_dir):
    process, url = start_api({**stack_env, "C3_RENDER_API_KEY": KEY}, services_dir / "api-locked.log")
    yield url
    _stop(process)


@pytest.mark.parametrize("headers", [{"X-C3-RENDER-KEY": KEY}, {"Authorization": f"Bearer {KEY}"},
                                     {"authorization": f"bearer {KEY}"}])
def test_key_in_either_header_is_accepted(locked_api, headers):
    response = requests.post(f"{locked_api}/echo", json={"message": "hi"}, headers=headers, timeout=5)
    assert response.status_code == 200


@pytest.mark.parametrize("headers", [{}, {"X-C3-RENDER-KEY": "wrong"}, {"Authorization": "Bearer wrong"},
                                     {"Authorization": KEY}])
def test_missing_or_wrong_key_is_401_json(locked_api, headers):
    for method, path in (("post", "/echo"), ("get", "/status/00000000-0000-4000-8000-000000000000")):
        response = getattr(requests, method)(f"{locked_api}{path}", json={"message": "hi"}, headers=headers,
                                             timeout=5)
        assert response.status_code == 401
        assert response.json()["title"] == "Unauthorized"


def test_probes_stay_open_with_a_key(locked_api):
    assert requests.get(f"{locked_api}/healthz", timeout=5).status_code == 200
    assert requests.get(f"{locked_api}/readyz", timeout=5).status_code == 200


def test_open_api_warns_at_start(api, services_dir):
    assert "C3_RENDER_API_KEY is not set" in (services_dir / "api.log").read_text()
    assert requests.post(f"{api}/echo", json={"message": "open"}, timeout=5).status_code == 200


def test_redis_outage_gives_503_json_not_a_traceback(stack_env, services_dir, tmp_path):
    redis = RedisServer(tmp_path / "redis")
    redis.start()
    process, url = start_api({**stack_env, "REDIS_URL": redis.url}, services_dir / "api-outage.log")
    try:
        redis.kill()
        for method, path, body in (("post", "/echo", {"message": "x"}),
                                   ("get", "/status/00000000-0000-4000-8000-000000000000", None)):
            response = getattr(requests, method)(f"{url}{path}", json=body, timeout=30)
            assert response.status_code == 503, response.text
            assert response.json()["title"] == "Service unavailable"
        assert requests.get(f"{url}/readyz", timeout=30).status_code == 503
        assert requests.get(f"{url}/healthz", timeout=5).status_code == 200
        redis.restart()
        assert requests.post(f"{url}/echo", json={"message": "back"}, timeout=30).status_code == 200
    finally:
        _stop(process)
        redis.stop()
