"""Webhook retries, signatures and the recorded delivery outcome (WEBHOOK_ATTEMPTS=3,
WEBHOOK_INTERVAL=0.3 in the test stack: the original variables still set a fixed spacing)."""

import base64
import json

import pytest
import requests

from support.stack import WEBHOOK_SECRETS, wait_terminal
from support.servers import WebhookReceiver, wait_for
from support.standard_webhooks import InvalidWebhook, verify


def _webhook(api, job_id):
    return requests.get(f"{api}/status/{job_id}", timeout=5).json().get("webhook", {})


def test_receiver_errors_are_retried_until_delivered(api):
    with WebhookReceiver(codes=[500, 503]) as receiver:
        job_id = requests.post(f"{api}/echo", json={"message": "retry", "notify_url": f"{receiver.url}/h"},
                               timeout=5).json()["id"]
        wait_for(lambda: _webhook(api, job_id).get("status") == "delivered", timeout=20, message="delivery")
        calls = receiver.posts("/h")
        assert len(calls) == 3
        assert all(call["body"] == {"id": job_id, "status": "success", "text": "retry"} for call in calls)
        gaps = [later["at"] - earlier["at"] for earlier, later in zip(calls, calls[1:])]
        assert min(gaps) >= 0.25  # WEBHOOK_INTERVAL=0.3 s apart
        assert _webhook(api, job_id)["attempts"] == 3
        assert {call["headers"]["webhook-id"] for call in calls} == {job_id}   # one identity on every attempt


def test_failing_receiver_never_changes_the_job(api):
    with WebhookReceiver(codes=[500] * 10) as receiver:
        job_id = requests.post(f"{api}/echo", json={"message": "x", "notify_url": f"{receiver.url}/down"},
                               timeout=5).json()["id"]
        wait_for(lambda: _webhook(api, job_id).get("status") == "failed", timeout=20, message="give-up")
        webhook = _webhook(api, job_id)
        assert webhook["attempts"] == 3 and "HTTP 500" in webhook["error"]
        assert len(receiver.posts("/down")) == 3
    assert wait_terminal(api, job_id)["status"] == "success"


def test_unreachable_receiver_is_recorded(api):
    job_id = requests.post(f"{api}/echo", json={"message": "x", "notify_url": "http://127.0.0.1:9/none"},
                           timeout=5).json()["id"]
    wait_for(lambda: _webhook(api, job_id).get("status") == "failed", timeout=20, message="give-up")
    assert "failed" in _webhook(api, job_id)["error"]


def test_every_attempt_is_signed_with_the_job_id_and_each_secret(api):
    with WebhookReceiver(codes=[500]) as receiver:
        job_id = requests.post(f"{api}/echo", json={"message": "signed", "notify_url": f"{receiver.url}/s"},
                               timeout=5).json()["id"]
        wait_for(lambda: _webhook(api, job_id).get("status") == "delivered", timeout=20, message="delivery")
        calls = receiver.posts("/s")
    assert len(calls) == 2
    for call in calls:
        assert call["raw"] == json.dumps({"id": job_id, "status": "success", "text": "signed"}).encode()
        assert call["headers"]["webhook-id"] == job_id
        for secret in WEBHOOK_SECRETS:  # rotation: a receiver holding either secret accepts
            verify(secret, call["headers"], call["raw"])
        with pytest.raises(InvalidWebhook):
            verify("whsec_" + base64.b64encode(b"someone-else-0123456789ab").decode(), call["headers"], call["raw"])
        with pytest.raises(InvalidWebhook):
            verify(WEBHOOK_SECRETS[0], call["headers"], call["raw"].replace(b"signed", b"forged"))
        signed_at = int(call["headers"]["webhook-timestamp"])
        with pytest.raises(InvalidWebhook):
            verify(WEBHOOK_SECRETS[0], call["headers"], call["raw"], now=signed_at + 600)
