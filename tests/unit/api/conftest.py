import falcon.testing
import pytest

from render_api.app import create_app
from render_core.sdk.registry import load_registry
from render_api.services import ApiServices
from render_core.config.settings import Settings


@pytest.fixture(scope="session")
def registry():
    return load_registry()


@pytest.fixture
def offline_client(registry):
    """The API wired to a Redis that is not there: validation runs, storage answers 503."""
    settings = Settings.from_env({"REDIS_URL": "redis://127.0.0.1:1/0", "C3_RENDER_ALLOW_OPEN": "true"})
    return falcon.testing.TestClient(create_app(ApiServices(settings, registry)))
