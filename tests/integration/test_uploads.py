"""POST /uploads: a presigned place for a local file whose input URL any task accepts."""

import requests

from conftest import API_KEYS, BUCKET, KEYED_MAX_UPLOAD
from render_core.net.storage import UPLOAD_PREFIX, UPLOAD_RULE_ID

BOB = {"X-C3-RENDER-KEY": API_KEYS["bob"]}


def _place(api: str, size: int, filename: str = "input.bin", content_type: str = "application/octet-stream"):
    return requests.post(f"{api}/uploads", json={"filename": filename, "content_type": content_type, "size": size},
                         headers=BOB, timeout=10)


def test_an_uploaded_file_is_a_task_input(keyed_api):
    data = b"\x01" * 123_456
    place = _place(keyed_api, len(data), filename="../../etc/my input.bin")
    assert place.status_code == 201, place.text
    body = place.json()
    assert f"/{BUCKET}/{UPLOAD_PREFIX}bob/" in body["upload_url"] and "/my_input.bin?" in body["upload_url"]
    assert body["max_bytes"] == KEYED_MAX_UPLOAD
    put = requests.put(body["upload_url"], data=data, headers=body["headers"], timeout=30)
    assert put.status_code == 200, put.text
    job = requests.post(f"{keyed_api}/echo", json={"message": "got", "input_url": body["input_url"]},
                        headers={**BOB, "Prefer": "wait=30"}, timeout=60)
    assert job.status_code == 200, job.text
    assert job.json()["status"] == "success", job.json()
    assert job.json()["result"] == {"text": f"got ({len(data)} bytes)"}


def test_the_post_form_enforces_the_size_limit(keyed_api):
    body = _place(keyed_api, 10).json()
    form = body["upload_form"]
    too_big = requests.post(form["url"], data=form["fields"], timeout=60,
                            files={"file": ("x.bin", b"\x00" * (KEYED_MAX_UPLOAD + 1))})
    assert too_big.status_code == 400 and "EntityTooLarge" in too_big.text
    fits = requests.post(form["url"], data=form["fields"], files={"file": ("x.bin", b"\x00" * 1000)}, timeout=30)
    assert fits.status_code in (200, 201, 204), fits.text
    job = requests.post(f"{keyed_api}/echo", json={"message": "form", "input_url": body["input_url"]},
                        headers={**BOB, "Prefer": "wait=30"}, timeout=60)
    assert job.json()["result"] == {"text": "form (1000 bytes)"}


def test_a_missing_or_oversized_upload_is_refused_at_submit(keyed_api):
    missing = _place(keyed_api, 100).json()
    answer = requests.post(f"{keyed_api}/echo", json={"message": "x", "input_url": missing["input_url"]},
                           headers=BOB, timeout=10)
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["field"] == "input_url"
    assert "not uploaded yet" in answer.json()["errors"][0]["message"]

    declared_small = _place(keyed_api, 100).json()  # a PUT carries no size bound: checked when a job names it
    put = requests.put(declared_small["upload_url"], data=b"\x00" * (KEYED_MAX_UPLOAD + 10),
                       headers=declared_small["headers"], timeout=60)
    assert put.status_code == 200
    answer = requests.post(f"{keyed_api}/echo", json={"message": "x", "input_url": declared_small["input_url"]},
                           headers=BOB, timeout=10)
    assert answer.status_code == 400
    assert "over the limit" in answer.json()["errors"][0]["message"]


def test_bad_upload_requests_name_the_field(keyed_api):
    too_big = _place(keyed_api, KEYED_MAX_UPLOAD + 1)
    assert too_big.status_code == 413 and too_big.json()["errors"][0]["field"] == "size"
    for body, field in (({"size": 10}, "filename"), ({"filename": "a", "size": 0}, "size"),
                        ({"filename": "a", "size": 1, "content_type": "not a type"}, "content_type")):
        answer = requests.post(f"{keyed_api}/uploads", json=body, headers=BOB, timeout=10)
        assert answer.status_code == 400, body
        assert answer.json()["errors"][0]["field"] == field


def test_uploads_expire_by_a_bucket_lifecycle_rule(worker, s3_server):
    rules = s3_server.client().get_bucket_lifecycle(BUCKET).rules
    rule = next(r for r in rules if r.rule_id == UPLOAD_RULE_ID)
    assert rule.rule_filter.prefix == UPLOAD_PREFIX and rule.expiration.days == 1  # set by the worker at boot
