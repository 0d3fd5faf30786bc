"""Webhook payloads, exactly the original service's."""

from __future__ import annotations

from . import status as st
from .store import Job


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
