"""The deliver_webhook actor in-process (StubBroker, embedded worker) against a real local receiver."""

from __future__ import annotations

import dramatiq
import pytest
from dramatiq.middleware import CurrentMessage, Retries

from render_core.config.settings import Settings
from render_core.dispatch.messages import DELIVER_WEBHOOK, WEBHOOK_QUEUE, webhook_message
from render_core.net.http import AddressPolicy
from render_core.worker.webhook_delivery import WebhookDelivery
from support.job_harness import create_job, process
from support.servers import WebhookReceiver

ATTEMPTS = 3


@pytest.fixture
def receiver():
    with WebhookReceiver() as server:
        yield server


def deliver(broker, store, *, loopback=True):
    """Declare the actor as the worker does (WEBHOOK_ATTEMPTS=3, WEBHOOK_INTERVAL=0.05 s)."""
    settings = Settings.from_env({"WEBHOOK_ATTEMPTS": str(ATTEMPTS), "WEBHOOK_INTERVAL": "0.05",
                                  "WEBHOOK_TIMEOUT": "5"})
    broker.add_middleware(CurrentMessage())
    broker.add_middleware(Retries(max_retries=0))
    delivery = WebhookDelivery(settings=settings, jobs=store, url_policy=AddressPolicy(allow_loopback=loopback))
    dramatiq.actor(delivery.deliver, broker=broker, actor_name=DELIVER_WEBHOOK, queue_name=WEBHOOK_QUEUE,
                   max_retries=settings.webhook_attempts - 1)


def send(broker, store, receiver, body=None):
    job_id = create_job(store, "hooked", notify_url=receiver.url + "/hook")
    body = body or {"id": job_id, "status": "success", "text": "hello"}
    process(broker, webhook_message(job_id, receiver.url + "/hook", body))
    return job_id, body


def test_a_2xx_answer_is_one_delivery(stub_broker, store, receiver):
    deliver(stub_broker, store)
    job_id, body = send(stub_broker, store, receiver)
    assert [call["body"] for call in receiver.posts("/hook")] == [body]
    job = store.get(job_id)
    assert (job.webhook, job.webhook_attempts, job.webhook_error) == ("delivered", 1, None)


def test_failed_attempts_are_retried_until_one_succeeds(stub_broker, store):
    deliver(stub_broker, store)
    with WebhookReceiver(codes=[500, 503]) as receiver:
        job_id, body = send(stub_broker, store, receiver)
        assert [call["body"] for call in receiver.posts("/hook")] == [body] * 3
    job = store.get(job_id)
    assert (job.webhook, job.webhook_attempts) == ("delivered", 3)


def test_a_receiver_failing_every_attempt_is_recorded_and_the_job_unchanged(stub_broker, store):
    deliver(stub_broker, store)
    with WebhookReceiver(codes=[500] * 10) as receiver:
        job_id, _ = send(stub_broker, store, receiver)
        assert len(receiver.posts("/hook")) == ATTEMPTS
    job = store.get(job_id)
    assert (job.webhook, job.webhook_attempts, job.webhook_error) == ("failed", ATTEMPTS, "receiver answered HTTP 500")
    assert job.status == "queued", "a failing receiver never changes the job"


def test_a_refused_address_is_never_contacted(stub_broker, store, receiver):
    deliver(stub_broker, store, loopback=False)
    job_id, _ = send(stub_broker, store, receiver)
    assert receiver.posts("/hook") == []
    job = store.get(job_id)
    assert job.webhook == "failed" and job.webhook_attempts == ATTEMPTS and "127.0.0.1" in job.webhook_error


def test_a_job_whose_record_expired_still_gets_its_webhook(stub_broker, store, receiver):
    deliver(stub_broker, store)
    job_id = "00000000-0000-4000-8000-000000000000"
    body = {"id": job_id, "status": "failed", "error": "x"}
    process(stub_broker, webhook_message(job_id, receiver.url + "/hook", body))
    assert [call["body"] for call in receiver.posts("/hook")] == [body]
    assert store.get(job_id) is None, "recording the outcome never recreates the record"
