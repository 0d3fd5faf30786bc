"""Webhook payloads (exactly the original service's) and one delivery attempt."""

from __future__ import annotations

import logging

from . import status as st
from .http import AddressPolicy, FetchError, Timeouts, post_json
from .jobs import Job

log = logging.getLogger(__name__)


def payload(job: Job) -> dict:
    """``{"id", "status"}`` plus ``result_url`` or ``text`` on success, ``error`` otherwise."""
    body = {"id": job.id, "status": job.status}
    if job.status == st.SUCCESS:
        if job.result_url:
            body["result_url"] = job.result_url
        else:
            body["text"] = job.text or ""
    else:
        body["error"] = job.error or f"job {job.status}"
    return body


def post_once(url: str, body: dict, *, policy: AddressPolicy, timeout: float) -> str | None:
    """POST ``body`` to ``url`` once; returns None when the receiver answered 2xx, else the reason."""
    try:
        code = post_json(url, body, policy=policy, timeouts=Timeouts(connect=min(timeout, 10.0), read=timeout))
    except FetchError as exc:
        return str(exc)
    if 200 <= code < 300:
        return None
    return f"receiver answered HTTP {code}"
