"""Webhook delivery in-process: the deliver_webhook actor (StubBroker, embedded worker) against a real
local receiver and the outbox on a throwaway Redis, the pump, and the attempt protocol with fakes."""

from __future__ import annotations

import base64
import time

import dramatiq
import pytest
from dramatiq.middleware import CurrentMessage, Retries

from render_core.config.settings import webhook_keys
from render_core.dispatch.messages import DELIVER_WEBHOOK, WEBHOOK_QUEUE, webhook_message
from render_core.jobs.webhook_outbox import Attempt, WebhookOutbox
from render_core.jobs.webhook_schedule import WebhookSchedule
from render_core.net.http import AddressPolicy
from render_core.worker import webhook_delivery
from render_core.worker.webhook_delivery import WebhookDelivery, WebhookPump
from support.job_harness import create_job, running_worker
from support.servers import WebhookReceiver
from support.standard_webhooks import verify

#: Three attempts 0.05 s apart.
SCHEDULE = WebhookSchedule((0.05, 0.05))


@pytest.fixture
def receiver():
    with WebhookReceiver() as server:
        yield server


def deliver_all(broker, store, lifecycle, notify_url, *, loopback=True, status="success", secrets=(), **fields):
    """Finish a job with ``notify_url`` and run its webhook attempts until the outbox owes nothing."""
    outbox = WebhookOutbox(store.client)
    broker.add_middleware(CurrentMessage())
    broker.add_middleware(Retries(max_retries=0))
    delivery = WebhookDelivery(outbox=outbox, schedule=SCHEDULE, timeout=5.0,
                               url_policy=AddressPolicy(allow_loopback=loopback), secrets=secrets)
    dramatiq.actor(delivery.deliver, broker=broker, actor_name=DELIVER_WEBHOOK, queue_name=WEBHOOK_QUEUE,
                   max_retries=0)
    pump = WebhookPump(outbox, broker, SCHEDULE, timeout=5.0)
    job_id = create_job(store, "hooked", notify_url=notify_url)
    store.transition(job_id, "running")
    assert lifecycle.finish(job_id, status, **fields)
    with running_worker(broker, queues={WEBHOOK_QUEUE}):
        broker.enqueue(webhook_message(job_id, 1))             # what the finish queued in Redis
        give_up = time.monotonic() + 10
        while outbox.owed() and time.monotonic() < give_up:
            broker.join(WEBHOOK_QUEUE, timeout=10_000, fail_fast=False)
            pump.pump_once()
            time.sleep(0.02)
    return job_id


def test_a_2xx_answer_is_one_delivery(stub_broker, store, lifecycle, receiver):
    job_id = deliver_all(stub_broker, store, lifecycle, receiver.url + "/hook", text="hello")
    assert [call["body"] for call in receiver.posts("/hook")] == [{"id": job_id, "status": "success",
                                                                   "text": "hello"}]
    job = store.get(job_id)
    assert (job.webhook, job.webhook_attempts, job.webhook_error) == ("delivered", 1, None)


def test_failed_attempts_are_retried_on_schedule_until_one_succeeds(stub_broker, store, lifecycle):
    secret = "whsec_" + base64.b64encode(b"0123456789abcdef01234567").decode()
    with WebhookReceiver(codes=[500, 503]) as receiver:
        job_id = deliver_all(stub_broker, store, lifecycle, receiver.url + "/hook", text="hello",
                             secrets=webhook_keys(secret))
        calls = receiver.posts("/hook")
    assert [call["body"]["id"] for call in calls] == [job_id] * 3
    for call in calls:  # each attempt signed anew, with the same identity
        assert call["headers"]["webhook-id"] == job_id
        verify(secret, call["headers"], call["raw"])
    assert all(b["at"] - a["at"] >= 0.05 for a, b in zip(calls, calls[1:]))
    job = store.get(job_id)
    assert (job.webhook, job.webhook_attempts) == ("delivered", 3)


def test_a_receiver_failing_every_attempt_is_recorded_and_the_job_unchanged(stub_broker, store, lifecycle):
    with WebhookReceiver(codes=[500] * 10) as receiver:
        job_id = deliver_all(stub_broker, store, lifecycle, receiver.url + "/hook", text="hello")
        assert len(receiver.posts("/hook")) == SCHEDULE.attempts
    job = store.get(job_id)
    assert (job.webhook, job.webhook_attempts, job.webhook_error) == ("failed", 3, "receiver answered HTTP 500")
    assert job.status == "success", "a failing receiver never changes the job"


def test_a_refused_address_is_never_contacted(stub_broker, store, lifecycle, receiver):
    job_id = deliver_all(stub_broker, store, lifecycle, receiver.url + "/hook", loopback=False, text="x")
    assert receiver.posts("/hook") == []
    job = store.get(job_id)
    assert job.webhook == "failed" and job.webhook_attempts == 3 and "127.0.0.1" in job.webhook_error


class FakeOutbox:
    def __init__(self, state="go", due=()):
        self.state = state
        self.due = list(due)
        self.begun, self.recorded, self.claims = [], [], []

    def begin(self, job_id, attempt, now, claim_until):
        self.begun.append((job_id, attempt, claim_until - now))
        return Attempt(self.state, "http://127.0.0.1:9/h", b'{"id": "j", "status": "success", "text": ""}', "echo")

    def record(self, job_id, attempt, outcome, error="", next_at=None):
        self.recorded.append((job_id, attempt, outcome, error, next_at))

    def claim_due(self, now, claim_until, limit=100):
        self.claims.append(claim_until - now)
        due, self.due = self.due, []
        return due


@pytest.fixture
def posts(monkeypatch):
    answers: list = []
    errors: list = []
    ids: list = []

    def post_once(url, body, *, webhook_id, secrets, policy, timeout):
        answers.append((url, body, timeout))
        ids.append(webhook_id)
        return errors.pop(0) if errors else None

    monkeypatch.setattr(webhook_delivery, "post_once", post_once)
    return answers, errors, ids


def fake_delivery(outbox, delays=(5.0, 30.0)):
    return WebhookDelivery(outbox=outbox, schedule=WebhookSchedule(delays), timeout=10.0,
                           url_policy=AddressPolicy(), clock=lambda: 1000.0)


def test_an_attempt_is_claimed_for_twice_the_timeout_plus_slack(posts):
    outbox = FakeOutbox()
    fake_delivery(outbox).deliver("j", 1)
    assert posts[0] == [("http://127.0.0.1:9/h", {"id": "j", "status": "success", "text": ""}, 10.0)]
    assert outbox.begun == [("j", 1, 30.0)] and outbox.recorded == [("j", 1, "delivered", "", None)]


def test_each_failed_attempt_schedules_the_next_until_the_schedule_ends(posts):
    _, errors, ids = posts
    outbox = FakeOutbox()
    errors.extend(["receiver answered HTTP 503"] * 3)
    for attempt in (1, 2, 3):
        fake_delivery(outbox).deliver("j", attempt)
    assert ids == ["j", "j", "j"], "every attempt has the job id as its webhook-id"
    assert outbox.recorded == [("j", 1, "retrying", "receiver answered HTTP 503", 1005.0),
                               ("j", 2, "retrying", "receiver answered HTTP 503", 1030.0),
                               ("j", 3, "failed", "receiver answered HTTP 503", None)]


@pytest.mark.parametrize("state", ["busy", "stale", "gone"])
def test_nothing_is_posted_for_an_attempt_in_flight_made_or_no_longer_owed(posts, state):
    outbox = FakeOutbox(state)
    fake_delivery(outbox).deliver("j", 2)
    assert posts[0] == [] and outbox.recorded == []


def test_a_message_of_the_previous_format_is_still_posted_once(posts):
    outbox = FakeOutbox()
    fake_delivery(outbox).deliver("j", "http://127.0.0.1:9/old", {"id": "j", "status": "failed", "error": "x"})
    assert posts[0] == [("http://127.0.0.1:9/old", {"id": "j", "status": "failed", "error": "x"}, 10.0)]
    assert outbox.begun == []


def test_the_pump_sends_the_next_attempt_of_each_due_webhook():
    sent = []

    class Broker:
        def enqueue(self, message):
            sent.append((message.queue_name, message.actor_name, message.args))

    outbox = FakeOutbox(due=[("a", 0), ("b", 3)])
    pump = WebhookPump(outbox, Broker(), WebhookSchedule((0.3, 0.3)), timeout=2.0, clock=lambda: 50.0)
    assert pump.pump_once() == 2 and pump.pump_once() == 0
    assert sent == [("webhooks", "deliver_webhook", ("a", 1)), ("webhooks", "deliver_webhook", ("b", 4))]
    assert outbox.claims == [14.0, 14.0] and pump.interval == 0.15
