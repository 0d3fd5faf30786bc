"""Webhook signing, checked with a verifier written from the Standard Webhooks specification."""

import base64
import json

import pytest

from render_core.net.http import AddressPolicy
from render_core.net.webhook_post import post_once
from render_core.net.webhook_signing import signature, signed_headers
from support.servers import WebhookReceiver
from support.standard_webhooks import InvalidWebhook, verify

OLD = "whsec_" + base64.b64encode(b"o" * 32).decode()
NEW = "whsec_" + base64.b64encode(b"n" * 32).decode()
OTHER = "whsec_" + base64.b64encode(b"x" * 32).decode()
BODY = b'{"id": "j1", "status": "success", "text": "hi"}'
NOW = 1_700_000_000


def key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix("whsec_"))


def test_signature_matches_the_specification_example():
    spec_key = base64.b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    assert signature(spec_key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}') \
        == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_a_receiver_verifies_the_headers():
    headers = signed_headers("j1", BODY, (key(NEW),), clock=lambda: NOW + 0.9)
    assert headers["webhook-id"] == "j1" and headers["webhook-timestamp"] == str(NOW)
    verify(NEW, headers, BODY, now=NOW)


def test_rotation_signs_with_every_secret_and_each_verifies():
    headers = signed_headers("j1", BODY, (key(NEW), key(OLD)), clock=lambda: NOW)
    assert len(headers["webhook-signature"].split(" ")) == 2
    verify(NEW, headers, BODY, now=NOW)
    verify(OLD, headers, BODY, now=NOW)
    with pytest.raises(InvalidWebhook):
        verify(OTHER, headers, BODY, now=NOW)


@pytest.mark.parametrize("change", ["body", "id", "timestamp", "old", "future"])
def test_tampered_or_stale_messages_are_rejected(change):
    headers = signed_headers("j1", BODY, (key(NEW),), clock=lambda: NOW)
    body, now = BODY, NOW
    if change == "body":
        body = BODY.replace(b"hi", b"ho")
    elif change == "id":
        headers["webhook-id"] = "j2"
    elif change == "timestamp":
        headers["webhook-timestamp"] = str(NOW + 1)
    elif change == "old":
        now = NOW + 301
    else:
        now = NOW - 301
    with pytest.raises(InvalidWebhook):
        verify(NEW, headers, body, now=now)


def test_without_secrets_there_is_no_signature():
    headers = signed_headers("j1", BODY, (), clock=lambda: NOW)
    assert headers == {"webhook-id": "j1", "webhook-timestamp": str(NOW)}


def test_post_once_sends_exactly_the_bytes_it_signed():
    payload = {"id": "j1", "status": "success", "text": "caf\u00e9 \U0001f600"}
    with WebhookReceiver() as receiver:
        assert post_once(f"{receiver.url}/h", payload, webhook_id="j1", secrets=(key(NEW), key(OLD)),
                         policy=AddressPolicy(allow_loopback=True), timeout=5) is None
        (call,) = receiver.posts("/h")
    assert call["raw"] == json.dumps(payload).encode()  # the original service's body, byte for byte
    assert call["headers"]["content-type"] == "application/json"
    assert call["headers"]["webhook-id"] == "j1"
    verify(NEW, call["headers"], call["raw"])
    verify(OLD, call["headers"], call["raw"])


def test_post_once_unsigned_still_identifies_the_message():
    with WebhookReceiver() as receiver:
        post_once(f"{receiver.url}/h", {"id": "j1", "status": "failed", "error": "x"}, webhook_id="j1",
                  secrets=(), policy=AddressPolicy(allow_loopback=True), timeout=5)
        (call,) = receiver.posts("/h")
    assert "webhook-signature" not in call["headers"]
    assert call["headers"]["webhook-id"] == "j1" and call["headers"]["webhook-timestamp"].isdigit()
