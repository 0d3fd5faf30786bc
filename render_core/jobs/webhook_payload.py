"""Webhook payloads, exactly the original service's."""

from __future__ import annotations

from . import status as st


def payload_for(job_id: str, status: str, fields: dict) -> dict:
    """``{"id", "status"}`` plus ``result_url`` or ``text`` on success, ``error`` otherwise.

    ``fields``: the record's result fields (``result_url``, ``text``, ``error``) as the
    terminal transition writes them.
    """
    body = {"id": job_id, "status": status}
    if status == st.SUCCESS:
        if fields.get("result_url"):
            body["result_url"] = fields["result_url"]
        else:
            body["text"] = fields.get("text") or ""
    else:
        body["error"] = fields.get("error") or f"job {status}"
    return body
