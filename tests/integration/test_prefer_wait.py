"""Prefer: wait=N on POST /<task> and GET /status/{id}: answers when the job ends, or after N s."""

import threading
import time

import requests

from conftest import API_KEYS

ALICE = {"X-C3-RENDER-KEY": API_KEYS["alice"]}


def test_a_short_job_answers_success_in_one_call(keyed_api):
    answer = requests.post(f"{keyed_api}/echo", json={"message": "quick", "seconds": 1},
                           headers={**ALICE, "Prefer": "wait=5"}, timeout=30)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["status"] == "success" and body["result"] == {"text": "quick"}
    assert answer.headers["Preference-Applied"] == "wait=5"


def test_a_long_job_answers_its_current_status_after_the_wait(keyed_api):
    job = requests.post(f"{keyed_api}/echo", json={"message": "slow", "seconds": 10}, headers=ALICE, timeout=10).json()
    started = time.monotonic()
    answer = requests.get(f"{keyed_api}/status/{job['id']}", headers={**ALICE, "Prefer": "wait=5"}, timeout=30)
    elapsed = time.monotonic() - started
    assert answer.status_code == 200
    assert answer.json()["status"] == "running"
    assert answer.headers["Preference-Applied"] == "wait=5"
    assert elapsed >= 4.5  # held for the wait, not answered at once
    requests.post(f"{keyed_api}/job/{job['id']}", json={"status": "cancelled"}, headers=ALICE, timeout=10)


def test_a_cancel_wakes_every_waiter_of_the_job(keyed_api):
    job = requests.post(f"{keyed_api}/echo", json={"message": "x", "seconds": 30}, headers=ALICE, timeout=10).json()
    answers = []

    def wait():
        answers.append(requests.get(f"{keyed_api}/status/{job['id']}", headers={**ALICE, "Prefer": "wait=30"},
                                    timeout=60))

    waiters = [threading.Thread(target=wait) for _ in range(10)]
    for thread in waiters:
        thread.start()
    time.sleep(1)
    requests.post(f"{keyed_api}/job/{job['id']}", json={"status": "cancelled"}, headers=ALICE, timeout=10)
    for thread in waiters:
        thread.join(40)
    assert len(answers) == 10
    assert {a.json()["status"] for a in answers} == {"cancelled"}


def test_a_wait_over_sixty_seconds_is_capped_and_bad_values_ignored(keyed_api):
    job = requests.post(f"{keyed_api}/echo", json={"message": "done"}, headers={**ALICE, "Prefer": "wait=60"},
                        timeout=70).json()
    assert job["status"] == "success"
    capped = requests.get(f"{keyed_api}/status/{job['id']}", headers={**ALICE, "Prefer": "respond-async, wait=600"},
                          timeout=10)
    assert capped.headers["Preference-Applied"] == "wait=60"
    ignored = requests.get(f"{keyed_api}/status/{job['id']}", headers={**ALICE, "Prefer": "wait=soon"}, timeout=10)
    assert ignored.status_code == 200 and "Preference-Applied" not in ignored.headers
