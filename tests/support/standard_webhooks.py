"""A webhook receiver's verifier, written from the Standard Webhooks specification alone.

It shares no code with the service's signing: it is what a customer would write.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time


class InvalidWebhook(Exception):
    """The message is not authentic or is too old."""


def verify(secret: str, headers, body: bytes, *, tolerance: float = 300, now: float | None = None) -> None:
    """Raise InvalidWebhook unless ``body`` carries a valid ``v1`` signature made with ``secret`` (whsec_...).

    ``headers`` is any case-insensitive mapping or a dict with lower-case names.
    """
    msg_id = headers["webhook-id"]
    timestamp = headers["webhook-timestamp"]
    now = time.time() if now is None else now
    if abs(now - int(timestamp)) > tolerance:
        raise InvalidWebhook("timestamp outside the tolerance")
    key = base64.b64decode(secret.removeprefix("whsec_"))
    content = msg_id.encode() + b"." + timestamp.encode() + b"." + body
    expected = base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()
    for versioned in headers["webhook-signature"].split(" "):
        version, _, candidate = versioned.partition(",")
        if version == "v1" and hmac.compare_digest(candidate, expected):
            return
    raise InvalidWebhook("no matching signature")
