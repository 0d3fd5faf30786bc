"""Deadlines (expired, timed_out) and client status changes (cancel, remove_data)."""

from pathlib import Path

import requests

from support.stack import wait_terminal
from support.servers import wait_for


def test_job_past_complete_by_is_expired_with_webhook(api, services, receiver):
    task = services.registry.get("echo")
    params = {"message": "late", "seconds": 0, "fail": None, "ignore_cancel": False, "input_url": None,
              "notify_url": f"{receiver.url}/expired", "max_time": 60, "complete_in": -1}
    record = services.lifecycle.submit(task, params)
    status = wait_terminal(api, record["id"])
    assert status["status"] == "expired"
    assert "complete_by" in status["error"]
    body = wait_for(lambda: receiver.posts("/expired"), message="webhook")[0]["body"]
    assert body == {"id": record["id"], "status": "expired", "error": status["error"]}


def _echo_params(**changes):
    params = {"message": "slow", "seconds": 30, "fail": None, "ignore_cancel": False, "input_url": None,
              "notify_url": None, "max_time": 60, "complete_in": 3600}
    params.update(changes)
    return params


def test_running_job_over_max_time_is_timed_out(api, services):
    record = services.lifecycle.submit(services.registry.get("echo"), _echo_params(max_time=1.5))
    status = wait_terminal(api, record["id"], timeout=20)
    assert status["status"] == "timed_out"
    assert "time limit" in status["error"]


def test_time_limit_interrupts_a_task_that_never_checks(api, services):
    record = services.lifecycle.submit(services.registry.get("echo"), _echo_params(max_time=1.5, ignore_cancel=True))
    status = wait_terminal(api, record["id"], timeout=20)
    assert status["status"] == "timed_out"


def test_complete_by_limits_a_running_job(api, services):
    record = services.lifecycle.submit(services.registry.get("echo"), _echo_params(max_time=600, complete_in=2))
    assert wait_terminal(api, record["id"], timeout=20)["status"] == "timed_out"


def test_cancel_running_job_stops_it_and_sends_one_webhook(api, services, receiver, settings):
    record = services.lifecycle.submit(services.registry.get("echo"), _echo_params(notify_url=f"{receiver.url}/cancel"))
    job_id = record["id"]
    wait_for(lambda: services.jobs.status(job_id) == "running", message="the job to start")
    work_dir = Path(settings.output_dir) / job_id
    wait_for(work_dir.exists, message="the work dir")
    response = requests.post(f"{api}/job/{job_id}", json={"status": "cancelled"}, timeout=5)
    assert response.status_code == 200
    assert response.json() == {"message": f"Job {job_id} marked as cancelled"}
    wait_for(lambda: not work_dir.exists(), timeout=5, message="the worker to stop the task")
    assert services.jobs.status(job_id) == "cancelled"
    wait_for(lambda: receiver.posts("/cancel"), message="webhook")
    wait_for(lambda: services.jobs.get(job_id).webhook == "delivered", message="delivery recorded")
    assert [c["body"]["status"] for c in receiver.posts("/cancel")] == ["cancelled"]


def test_cancel_queued_job_is_skipped_by_the_worker(api, services, receiver):
    task = services.registry.get("echo")
    record = services.jobs.new_record("echo", _echo_params(seconds=0, notify_url=f"{receiver.url}/queued"))
    with services.redis.pipeline() as pipe:
        services.jobs.create(record, pipe)
        pipe.execute()
    job_id = record["id"]
    response = requests.post(f"{api}/job/{job_id}", json={"status": "timed_out", "error": "gave up waiting"},
                             timeout=5)
    assert response.status_code == 200
    services.lifecycle.requeue(task, job_id)
    wait_for(lambda: receiver.posts("/queued"), message="webhook")
    status = requests.get(f"{api}/status/{job_id}", timeout=5).json()
    assert status["status"] == "timed_out" and status["error"] == "gave up waiting"
    wait_for(lambda: services.redis.llen("dramatiq:" + task.queue) == 0, message="the message to be consumed")
    assert services.jobs.get(job_id).attempts == 0
    assert len(receiver.posts("/queued")) == 1


def test_update_rules(api):
    job_id = requests.post(f"{api}/echo", json={"message": "done"}, timeout=5).json()["id"]
    wait_terminal(api, job_id)
    bad = requests.post(f"{api}/job/{job_id}", json={"status": "running"}, timeout=5)
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "status"
    late = requests.post(f"{api}/job/{job_id}", json={"status": "cancelled"}, timeout=5)
    assert late.status_code == 409 and late.json()["status"] == "success"
    removed = requests.post(f"{api}/job/{job_id}", json={"status": "cancelled", "remove_data": True}, timeout=5)
    assert removed.status_code == 200
    assert requests.get(f"{api}/status/{job_id}", timeout=5).status_code == 404


def test_remove_data_deletes_the_stored_result(api, services):
    job_id = requests.post(f"{api}/echo-file", json={"message": "to delete"}, timeout=5).json()["id"]
    wait_terminal(api, job_id)
    url = requests.get(f"{api}/result/{job_id}", timeout=5).json()["result_url"]
    assert requests.get(url, timeout=5).status_code == 200
    requests.post(f"{api}/job/{job_id}", json={"status": "failed", "remove_data": True}, timeout=5)
    assert requests.get(url, timeout=5).status_code == 404
