"""One webhook delivery attempt through the guarded HTTP client."""

from __future__ import annotations

from .http import AddressPolicy, FetchError, Timeouts, post_json


def post_once(url: str, body: dict, *, policy: AddressPolicy, timeout: float) -> str | None:
    """POST ``body`` to ``url`` once; returns None when the receiver answered 2xx, else the reason."""
    try:
        code = post_json(url, body, policy=policy, timeouts=Timeouts(connect=min(timeout, 10.0), read=timeout))
    except FetchError as exc:
        return str(exc)
    if 200 <= code < 300:
        return None
    return f"receiver answered HTTP {code}"
