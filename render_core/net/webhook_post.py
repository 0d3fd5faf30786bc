"""One webhook delivery attempt through the guarded HTTP client, signed (Standard Webhooks)."""

from __future__ import annotations

from .http import AddressPolicy, FetchError, Timeouts, json_bytes, post_bytes
from .webhook_signing import signed_headers


def post_once(url: str, body: dict, *, webhook_id: str, secrets: tuple[bytes, ...], policy: AddressPolicy,
              timeout: float) -> str | None:
    """POST ``body`` to ``url`` once; returns None when the receiver answered 2xx, else the reason.

    Parameters:
      webhook_id: the ``webhook-id`` header (the job id: the same on every attempt).
      secrets: WEBHOOK_SECRET keys; the exact bytes sent are signed with each (none: unsigned).
      timeout: seconds to wait for the connection and for the answer.
    """
    data = json_bytes(body)
    headers = signed_headers(webhook_id, data, secrets)
    try:
        code = post_bytes(url, data, headers=headers, policy=policy,
                          timeouts=Timeouts(connect=min(timeout, 10.0), read=timeout, total=timeout))
    except FetchError as exc:
        return str(exc)
    if 200 <= code < 300:
        return None
    return f"receiver answered HTTP {code}"
