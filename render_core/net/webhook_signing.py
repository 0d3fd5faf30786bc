"""Webhook signatures as the Standard Webhooks specification defines them (scheme ``v1``, HMAC-SHA256).

Every delivery carries three headers:

- ``webhook-id``: the job id, the same on every attempt (receivers deduplicate on it);
- ``webhook-timestamp``: when this attempt was signed, in integer Unix seconds;
- ``webhook-signature``: ``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`` for each
  secret, space-separated (several secrets while a secret is being rotated).

The signed body is the exact byte string sent. Secrets (WEBHOOK_SECRET) are
``whsec_<base64>``; the HMAC key is the base64-decoded part.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Callable

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"


def signature(key: bytes, webhook_id: str, timestamp: int, body: bytes) -> str:
    """The ``v1,<base64>`` signature of one message with one key."""
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode("ascii")


def signed_headers(webhook_id: str, body: bytes, keys: tuple[bytes, ...],
                   clock: Callable[[], float] = time.time) -> dict[str, str]:
    """The Standard Webhooks headers for ``body``; no ``webhook-signature`` when ``keys`` is empty.

    Parameters:
      webhook_id: the message id (the job id).
      body: the exact bytes that will be sent.
      keys: HMAC keys (decoded secrets); each adds one signature.
      clock: the current time in Unix seconds.
    """
    timestamp = int(clock())
    headers = {ID_HEADER: webhook_id, TIMESTAMP_HEADER: str(timestamp)}
    if keys:
        headers[SIGNATURE_HEADER] = " ".join(signature(key, webhook_id, timestamp, body) for key in keys)
    return headers
