"""The reference: the submission path of the service C3 Render replaces, as its documentation describes it.

A Flask app served by ``gunicorn -w 4`` (sync workers): ``POST /csm`` parses
the JSON body, checks the fields (text or monologue, max_time 60-7200,
complete_in 60-86400, notify_url a string), HSETs the job hash and RPUSHes its
id on the job list; ``GET /status/<id>`` is one HGETALL. Keys are prefixed
``reference:`` so the reference and C3 Render can share one Redis in a bench run.

Run: ``REDIS_URL=redis://127.0.0.1:PORT/0 gunicorn -w 4 --chdir bench reference_api:app``
"""

from __future__ import annotations

import json
import os
import time
import uuid

import redis
from flask import Flask, jsonify, request

app = Flask(__name__)
store = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://localhost:6379/0"))

QUEUE = "reference:job_queue"


def _error(message: str, status: int = 400):
    return jsonify({"error": message}), status


def _integer(data: dict, name: str, default: int, low: int, high: int) -> int:
    value = data.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer between {low} and {high}")
    return value


@app.post("/csm")
def csm():
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        return _error("Invalid JSON body")
    text, monologue = data.get("text"), data.get("monologue")
    if bool(text) == bool(monologue):
        return _error("Provide either text or monologue")
    if text is not None and not isinstance(text, str):
        return _error("text must be a string")
    if monologue is not None and not (isinstance(monologue, list) and all(isinstance(s, str) for s in monologue)):
        return _error("monologue must be an array of strings")
    notify_url = data.get("notify_url")
    if notify_url is not None and not isinstance(notify_url, str):
        return _error("notify_url must be a string")
    try:
        max_time = _integer(data, "max_time", 1200, 60, 7200)
        complete_in = _integer(data, "complete_in", 3600, 60, 86400)
    except ValueError as exc:
        return _error(str(exc))
    job_id = str(uuid.uuid4())
    now = time.time()
    store.hset(f"reference:job:{job_id}", mapping={
        "id": job_id, "type": "csm", "status": "queued", "params": json.dumps(data),
        "notify_url": notify_url or "", "max_time": max_time, "complete_by": now + complete_in,
        "created_at": now,
    })
    store.rpush(QUEUE, job_id)
    return jsonify({"id": job_id, "status": "queued"})


@app.get("/status/<job_id>")
def status(job_id: str):
    raw = store.hgetall(f"reference:job:{job_id}")
    if not raw:
        return _error("Job not found", 404)
    job = {k.decode(): v.decode() for k, v in raw.items()}
    return jsonify({"id": job["id"], "status": job["status"], "type": job["type"]})
