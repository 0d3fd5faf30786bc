"""The app refuses to be built without an API key unless C3_RENDER_ALLOW_OPEN says open is intended."""

import falcon.testing
import pytest

from render_api.app import create_app
from render_api.services import ApiServices
from render_core.config.settings import Settings, SettingsError

OFFLINE = {"REDIS_URL": "redis://127.0.0.1:1/0"}


def test_no_key_and_no_opt_out_is_refused(registry):
    with pytest.raises(SettingsError, match="C3_RENDER_ALLOW_OPEN=true"):
        create_app(ApiServices(Settings.from_env(OFFLINE), registry))


def test_the_opt_out_builds_an_open_app(registry):
    app = create_app(ApiServices(Settings.from_env({**OFFLINE, "C3_RENDER_ALLOW_OPEN": "true"}), registry))
    response = falcon.testing.TestClient(app).simulate_post("/echo", json={})
    assert response.status_code != 401


def test_a_key_builds_a_locked_app(registry):
    app = create_app(ApiServices(Settings.from_env({**OFFLINE, "C3_RENDER_API_KEY": "k"}), registry))
    assert falcon.testing.TestClient(app).simulate_post("/echo", json={}).status_code == 401
