"""The webhook outbox against a real Redis: one attempt at a time, outcomes mirrored on the job,
due attempts and lost ones handed out again."""

import json

import pytest

from render_core.config.settings import Settings
from render_core.dispatch.broker import build_broker
from render_core.jobs import status as st
from render_core.jobs.keys import WEBHOOKS_DUE, outbox_key
from render_core.jobs.lifecycle import JobLifecycle
from render_core.jobs.store import JobStore
from render_core.jobs.webhook_outbox import WebhookOutbox
from render_core.sdk.schema import Schema
from render_core.sdk.task import Task, TextOutput

HOOK = "http://127.0.0.1:9/hook"
TASK = Task(name="echo", schema=Schema({}), run=lambda ctx, params: TextOutput(""), output="text")


@pytest.fixture
def client(private_client):
    return private_client


@pytest.fixture
def finished(client):
    """A job that ended ``failed`` with a notify_url: its webhook is owed."""
    lifecycle = JobLifecycle(JobStore(client, ttl=100), build_broker(Settings(), client))
    job_id = lifecycle.submit(TASK, {"complete_in": 3600, "max_time": 1200, "notify_url": HOOK})["id"]
    assert lifecycle.finish(job_id, st.FAILED, error="broken input")
    return lifecycle.store, job_id


def test_attempts_run_one_at_a_time_and_are_mirrored_on_the_job(client, finished):
    store, job_id = finished
    outbox = WebhookOutbox(client)
    go = outbox.begin(job_id, 1, now=1000.0, claim_until=1030.0)
    assert (go.state, go.url, go.task) == ("go", HOOK, "echo")
    assert json.loads(go.body) == {"id": job_id, "status": "failed", "error": "broken input"}
    assert outbox.begin(job_id, 1, now=1001.0, claim_until=1031.0).state == "busy"
    assert outbox.record(job_id, 1, "retrying", "receiver answered HTTP 503", next_at=1005.0)
    job = store.get(job_id)
    assert (job.webhook, job.webhook_attempts, job.webhook_error) == ("retrying", 1, "receiver answered HTTP 503")
    assert job.webhook_next_at == 1005.0 and client.zscore(WEBHOOKS_DUE, job_id) == 1005.0
    assert outbox.begin(job_id, 1, now=1002.0, claim_until=1032.0).state == "stale"
    assert not outbox.record(job_id, 1, "delivered")         # that attempt was recorded already
    assert outbox.claim_due(now=1004.0, claim_until=1034.0) == []
    assert outbox.claim_due(now=1005.0, claim_until=1035.0) == [(job_id, 1)]
    assert client.zscore(WEBHOOKS_DUE, job_id) == 1035.0    # claimed: not handed out twice
    assert outbox.claim_due(now=1006.0, claim_until=1036.0) == []
    assert outbox.begin(job_id, 2, now=1006.0, claim_until=1036.0).state == "go"
    assert outbox.record(job_id, 2, "delivered")
    job = store.get(job_id)
    assert (job.webhook, job.webhook_attempts) == ("delivered", 2)
    assert not client.exists(outbox_key(job_id)) and client.zscore(WEBHOOKS_DUE, job_id) is None
    assert outbox.begin(job_id, 3, now=1007.0, claim_until=1037.0).state == "gone"
    assert outbox.owed() == 0


def test_an_attempt_that_never_reported_is_handed_out_again_after_its_claim(client, finished):
    _, job_id = finished
    outbox = WebhookOutbox(client)
    assert outbox.begin(job_id, 1, now=2000.0, claim_until=2030.0).state == "go"   # then the worker died
    assert outbox.claim_due(now=2029.0, claim_until=2059.0) == []
    assert outbox.claim_due(now=2030.0, claim_until=2060.0) == [(job_id, 0)]
    assert outbox.begin(job_id, 1, now=2031.0, claim_until=2061.0).state == "go"


def test_owed_webhook_survives_removal_of_the_job_record(client, finished):
    store, job_id = finished
    store.delete(job_id)
    outbox = WebhookOutbox(client)
    assert outbox.begin(job_id, 1, now=1.0, claim_until=2.0).state == "go"
    assert outbox.record(job_id, 1, "delivered")             # nothing to mirror on: still recorded
    assert not store.client.exists(outbox_key(job_id))


def test_due_entries_without_an_outbox_entry_are_dropped(client):
    client.zadd(WEBHOOKS_DUE, {"00000000-0000-4000-8000-000000000000": 1.0})
    assert WebhookOutbox(client).claim_due(now=10.0, claim_until=20.0) == []
    assert client.zcard(WEBHOOKS_DUE) == 0
