"""A job from POST to webhook through real gunicorn, Redis, S3 and a Dramatiq worker."""

import requests

from support.stack import wait_terminal
from support.servers import wait_for


def submit(api, task, body):
    response = requests.post(f"{api}/{task}", json=body, timeout=10)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "queued"
    return response.json()["id"]


def test_third_party_plugin_runs_and_webhook_carries_text(api, receiver):
    job_id = submit(api, "echo", {"message": "hello", "notify_url": f"{receiver.url}/hook"})
    status = wait_terminal(api, job_id)
    assert status["status"] == "success", status
    assert requests.get(f"{api}/result/{job_id}", timeout=5).json() == {"text": "hello"}
    posts = wait_for(lambda: receiver.posts("/hook"), message="the webhook")
    assert posts[0]["body"] == {"id": job_id, "status": "success", "text": "hello"}
    webhook = wait_for(lambda: requests.get(f"{api}/status/{job_id}", timeout=5).json().get("webhook", {})
                       .get("status") == "delivered", message="the delivery to be recorded")
    assert webhook


def test_media_output_is_uploaded_and_presigned(api, receiver):
    job_id = submit(api, "echo-file", {"message": "bytes in S3", "notify_url": f"{receiver.url}/media"})
    assert wait_terminal(api, job_id)["status"] == "success"
    result = requests.get(f"{api}/result/{job_id}", timeout=5).json()
    assert set(result) == {"result_url"}
    assert f"/{job_id}.txt?" in result["result_url"] and "X-Amz-Expires=604800" in result["result_url"]
    fetched = requests.get(result["result_url"], timeout=10)
    assert fetched.status_code == 200
    assert fetched.content == b"bytes in S3"
    assert fetched.headers["Content-Type"].startswith("text/plain")
    posts = wait_for(lambda: receiver.posts("/media"), message="the webhook")
    assert posts[0]["body"] == {"id": job_id, "status": "success", "result_url": result["result_url"]}


def test_failed_job_reports_its_error_everywhere(api, receiver):
    job_id = submit(api, "echo", {"message": "x", "fail": "the input was unusable",
                                  "notify_url": f"{receiver.url}/fail"})
    status = wait_terminal(api, job_id)
    assert status["status"] == "failed" and status["error"] == "the input was unusable"
    result = requests.get(f"{api}/result/{job_id}", timeout=5)
    assert result.status_code == 409
    assert result.json()["status"] == "failed" and result.json()["error"] == "the input was unusable"
    posts = wait_for(lambda: receiver.posts("/fail"), message="the webhook")
    assert posts[0]["body"] == {"id": job_id, "status": "failed", "error": "the input was unusable"}


def test_result_of_unfinished_job_is_409_with_status(api):
    job_id = submit(api, "echo", {"message": "slow", "seconds": 3})
    response = requests.get(f"{api}/result/{job_id}", timeout=5)
    assert response.status_code == 409
    assert response.json()["status"] in ("queued", "running")
    wait_terminal(api, job_id)


def test_download_failure_fails_the_job_with_a_clear_error(api, files):
    job_id = submit(api, "echo", {"message": "x", "input_url": f"{files.url}/missing.bin"})
    status = wait_terminal(api, job_id)
    assert status["status"] == "failed"
    assert "HTTP 404" in status["error"]


def test_download_is_passed_to_the_task(api, files):
    url = files.add("/blob.bin", b"x" * 1234)
    job_id = submit(api, "echo", {"message": "got", "input_url": url})
    assert wait_terminal(api, job_id)["status"] == "success"
    assert requests.get(f"{api}/result/{job_id}", timeout=5).json()["text"] == "got (1234 bytes)"


def test_status_shape_and_unknown_ids(api):
    job_id = submit(api, "echo", {"message": "shape"})
    wait_terminal(api, job_id)
    body = requests.get(f"{api}/status/{job_id}", timeout=5).json()
    assert body["id"] == job_id and body["status"] == "success" and body["type"] == "echo"
    assert body["created_at"].endswith("Z") and body["finished_at"] and body["progress"] == 1.0
    assert requests.get(f"{api}/status/not-a-uuid", timeout=5).status_code == 400
    missing = requests.get(f"{api}/status/00000000-0000-4000-8000-000000000000", timeout=5)
    assert missing.status_code == 404 and missing.json()["title"] == "Job not found"
