"""Per-client keys: each key sees, waits on, cancels and removes only its own jobs; an admin sees all."""

import json
import time

import requests

from conftest import API_KEYS


def _h(name: str) -> dict:
    return {"X-C3-RENDER-KEY": API_KEYS[name]}


def _submit(api: str, name: str, **body) -> str:
    answer = requests.post(f"{api}/echo", json={"message": f"from {name}", **body}, headers=_h(name), timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()["id"]


def _ids(api: str, name: str, **params) -> list[str]:
    answer = requests.get(f"{api}/jobs", params={"limit": 100, **params}, headers=_h(name), timeout=10)
    assert answer.status_code == 200, answer.text
    return [job["id"] for job in answer.json()["jobs"]]


def test_each_key_sees_only_its_own_jobs(keyed_api):
    mine = _submit(keyed_api, "alice")
    theirs = _submit(keyed_api, "bob", seconds=30)

    alice_ids, bob_ids = _ids(keyed_api, "alice"), _ids(keyed_api, "bob")
    assert mine in alice_ids and theirs not in alice_ids
    assert theirs in bob_ids and mine not in bob_ids
    admin_ids = _ids(keyed_api, "ops")
    assert {mine, theirs} <= set(admin_ids)
    assert _ids(keyed_api, "ops", owner="bob")[0] == theirs

    for path in (f"/status/{theirs}", f"/result/{theirs}"):
        answer = requests.get(keyed_api + path, headers=_h("alice"), timeout=10)
        assert answer.status_code == 404, (path, answer.text)
        assert answer.json()["title"] == "Job not found"
    waited = requests.get(f"{keyed_api}/status/{theirs}", headers={**_h("alice"), "Prefer": "wait=2"}, timeout=10)
    assert waited.status_code == 404
    cancel = requests.post(f"{keyed_api}/job/{theirs}", json={"status": "cancelled", "remove_data": True},
                           headers=_h("alice"), timeout=10)
    assert cancel.status_code == 404
    status = requests.get(f"{keyed_api}/status/{theirs}", headers=_h("bob"), timeout=10).json()
    assert status["status"] in ("queued", "running") and status["owner"] == "bob"

    own = requests.get(f"{keyed_api}/status/{mine}", headers={**_h("alice"), "Prefer": "wait=20"}, timeout=30)
    assert own.status_code == 200 and own.json()["status"] == "success"
    assert own.json()["result"] == {"text": "from alice"}
    assert requests.get(f"{keyed_api}/result/{mine}", headers=_h("alice"), timeout=10).json() == {"text": "from alice"}

    cancel = requests.post(f"{keyed_api}/job/{theirs}", json={"status": "cancelled"}, headers=_h("bob"), timeout=10)
    assert cancel.status_code == 200, cancel.text
    assert requests.get(f"{keyed_api}/status/{theirs}", headers=_h("bob"), timeout=10).json()["status"] == "cancelled"


def test_an_admin_may_cancel_and_remove_any_job(keyed_api):
    job_id = _submit(keyed_api, "bob", seconds=30)
    answer = requests.post(f"{keyed_api}/job/{job_id}", json={"status": "cancelled", "remove_data": True},
                           headers=_h("ops"), timeout=10)
    assert answer.status_code == 200, answer.text
    assert requests.get(f"{keyed_api}/status/{job_id}", headers=_h("bob"), timeout=10).status_code == 404
    assert job_id not in _ids(keyed_api, "bob")


def test_a_client_may_not_list_another_owner(keyed_api):
    answer = requests.get(f"{keyed_api}/jobs", params={"owner": "bob"}, headers=_h("alice"), timeout=10)
    assert answer.status_code == 403
    assert answer.json()["errors"][0]["field"] == "owner"


def test_unknown_and_missing_keys_are_refused(keyed_api):
    assert requests.get(f"{keyed_api}/jobs", timeout=10).status_code == 401
    assert requests.get(f"{keyed_api}/jobs", headers={"Authorization": "Bearer nope-0123456789abcdef"},
                        timeout=10).status_code == 401
    assert requests.get(f"{keyed_api}/jobs", headers={"Authorization": f"Bearer {API_KEYS['bob']}"},
                        timeout=10).status_code == 200


def test_keys_rotate_without_a_restart(keyed_api, keys_file):
    original = keys_file.read_text()
    new_key = "carol-key-0123456789abcdef"
    document = json.loads(original)
    document["keys"].append({"name": "carol", "key": new_key})
    try:
        keys_file.write_text(json.dumps(document))
        deadline = time.monotonic() + 10
        while requests.get(f"{keyed_api}/jobs", headers={"X-C3-RENDER-KEY": new_key}, timeout=10).status_code != 200:
            assert time.monotonic() < deadline, "the new key was not accepted within 10 s"
            time.sleep(0.3)
    finally:
        keys_file.write_text(original)
    deadline = time.monotonic() + 10
    while requests.get(f"{keyed_api}/jobs", headers={"X-C3-RENDER-KEY": new_key}, timeout=10).status_code != 401:
        assert time.monotonic() < deadline, "the removed key was still accepted after 10 s"
        time.sleep(0.3)
