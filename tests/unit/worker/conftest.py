"""In-process pieces of a worker for the tests of render_core.worker: settings, store, stub broker."""

from __future__ import annotations

import pytest
from dramatiq.brokers.stub import StubBroker

from render_core.config.settings import Settings
from render_core.dispatch.messages import WEBHOOK_QUEUE
from render_core.jobs.lifecycle import JobLifecycle
from render_core.jobs.store import JobStore


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings.from_env({"OUTPUT_DIR": str(tmp_path / "output"), "NODE_RETRY_ATTEMPTS": "2",
                              "RENDER_POLLING_INTERVAL": "0.05"})


@pytest.fixture
def store(redis_client) -> JobStore:
    return JobStore(redis_client, ttl=600)


@pytest.fixture
def stub_broker():
    """A StubBroker without middleware, with the webhook queue declared (for the lifecycle to send to)."""
    broker = StubBroker(middleware=[])
    broker.declare_queue(WEBHOOK_QUEUE)
    yield broker
    broker.close()


@pytest.fixture
def lifecycle(store, stub_broker) -> JobLifecycle:
    return JobLifecycle(store, stub_broker)
