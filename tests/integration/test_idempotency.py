"""Idempotency-Key on POST /<task>: one job per key and body, 422 for another body, scoped per API key."""

import threading
import uuid

import requests

from conftest import API_KEYS


def _post(api: str, body: dict, key: str, who: str = "alice", task: str = "echo") -> requests.Response:
    return requests.post(f"{api}/{task}", json=body, timeout=20,
                         headers={"X-C3-RENDER-KEY": API_KEYS[who], "Idempotency-Key": key})


def _owned(services, owner: str) -> set[str]:
    return {m.decode() for m in services.redis.zrange(f"c3render:jobs:owner:{owner}", 0, -1)}


def test_a_retried_post_answers_the_same_job(keyed_api, services):
    key = str(uuid.uuid4())
    before = _owned(services, "alice")
    first = _post(keyed_api, {"message": "once"}, key)
    again = _post(keyed_api, {"message": "once"}, key)
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json() == {"id": first.json()["id"], "status": "queued"}
    assert again.headers.get("Idempotent-Replayed") == "true" and "Idempotent-Replayed" not in first.headers
    assert _owned(services, "alice") - before == {first.json()["id"]}


def test_twenty_concurrent_duplicates_create_one_job(keyed_api, services):
    key = str(uuid.uuid4())
    before = _owned(services, "alice")
    answers: list[requests.Response] = []
    barrier = threading.Barrier(20)

    def send():
        barrier.wait()
        answers.append(_post(keyed_api, {"message": "concurrent", "seconds": 0.2}, key))

    threads = [threading.Thread(target=send) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(answers) == 20 and all(a.status_code == 200 for a in answers), [a.text for a in answers]
    ids = {a.json()["id"] for a in answers}
    assert len(ids) == 1
    assert sum(a.headers.get("Idempotent-Replayed") == "true" for a in answers) == 19
    assert _owned(services, "alice") - before == ids


def test_the_same_key_with_another_body_is_refused(keyed_api):
    key = str(uuid.uuid4())
    first = _post(keyed_api, {"message": "one"}, key).json()
    changed = _post(keyed_api, {"message": "two"}, key)
    assert changed.status_code == 422
    assert changed.json()["errors"] == [{"field": "Idempotency-Key", "message": "was used with another body"}]
    assert changed.json()["id"] == first["id"] and "different request body" in changed.json()["description"]
    other_task = _post(keyed_api, {"message": "one"}, key, task="echo-file")
    assert other_task.status_code == 422


def test_keys_are_scoped_per_api_key(keyed_api):
    key = str(uuid.uuid4())
    alice = _post(keyed_api, {"message": "mine"}, key, who="alice").json()
    bob = _post(keyed_api, {"message": "mine"}, key, who="bob").json()
    assert alice["id"] != bob["id"]


def test_a_malformed_key_is_refused(keyed_api):
    answer = _post(keyed_api, {"message": "x"}, "a" * 256)
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["field"] == "Idempotency-Key"
