"""GET /jobs: newest first, filters, stable cursors while jobs arrive, entries that expire with their jobs."""

import time
from datetime import datetime, timezone

import requests

from conftest import API_KEYS
from render_core.jobs import status as st
from render_core.jobs.index import ALL_KEY, JobIndex, owner_key

PAGER = {"X-C3-RENDER-KEY": API_KEYS["pager"]}


def _store_jobs(services, owner: str, count: int, start: float, step: float = 0.01) -> list[str]:
    """Job records (no messages: they stay queued) created at start, start + step, ...; newest first."""
    task = services.registry.tasks["echo"]
    params = services.registry.request_schema(task).validate({"message": "stored"})
    ids = []
    with services.redis.pipeline(transaction=False) as pipe:
        for i in range(count):
            record = services.jobs.new_record("echo", params, now=start + i * step, owner=owner)
            services.jobs.create(record, pipe)
            services.index.add(pipe, record)
            ids.append(record["id"])
        pipe.execute()
    return ids[::-1]


def _page(api: str, **params) -> dict:
    answer = requests.get(f"{api}/jobs", params=params, headers=PAGER, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_a_thousand_jobs_page_with_stable_cursors_while_new_jobs_arrive(keyed_api, services):
    expected = _store_jobs(services, "pager", 1000, start=time.time() - 600)
    seen, arrived, cursor = [], [], None
    while True:
        page = _page(keyed_api, limit=100, **({"next": cursor} if cursor else {}))
        assert len(page["jobs"]) <= 100
        seen.extend(job["id"] for job in page["jobs"])
        answer = requests.post(f"{keyed_api}/echo", json={"message": "new"}, headers=PAGER, timeout=10)
        arrived.append(answer.json()["id"])
        cursor = page["next"]
        if not cursor:
            break
    assert seen == expected  # every stored job exactly once, newest first, none of the new ones
    first = _page(keyed_api, limit=100)["jobs"]
    assert [job["id"] for job in first[:len(arrived)]] == arrived[::-1]
    created = [job["created_at"] for job in first]
    assert created == sorted(created, reverse=True)


def test_filters_by_status_type_and_time(keyed_api, services):
    start = time.time() - 300
    ids = _store_jobs(services, "pager", 30, start=start, step=1.0)  # newest first
    for job_id in ids[:10]:
        services.jobs.transition(job_id, st.RUNNING)
    # the three newest stored jobs
    after = datetime.fromtimestamp(start + 26.5, timezone.utc).isoformat().replace("+00:00", "Z")
    page = _page(keyed_api, limit=100, created_after=after, created_before=str(start + 100))
    assert [job["id"] for job in page["jobs"]] == ids[:3]
    running = _page(keyed_api, limit=100, status="running", created_after=str(start - 1),
                    created_before=str(start + 100))
    assert [job["id"] for job in running["jobs"]] == ids[:10]
    assert all(job["status"] == "running" for job in running["jobs"])
    assert _page(keyed_api, type="echo-file", created_after=str(start - 1), created_before=str(start + 100))["jobs"] == []
    for params, field in (({"status": "done"}, "status"), ({"limit": 101}, "limit"), ({"limit": "x"}, "limit"),
                          ({"type": "nope"}, "type"), ({"created_after": "yesterday"}, "created_after"),
                          ({"next": "!!"}, "next")):
        answer = requests.get(f"{keyed_api}/jobs", params=params, headers=PAGER, timeout=10)
        assert answer.status_code == 400, params
        assert answer.json()["errors"][0]["field"] == field


def test_a_status_filter_follows_status_changes_between_pages(keyed_api, services):
    start = time.time() - 200
    window = {"created_after": str(start - 1), "created_before": str(start + 50)}
    ids = _store_jobs(services, "pager", 40, start=start, step=1.0)
    first = _page(keyed_api, limit=10, status="queued", **window)
    assert [job["id"] for job in first["jobs"]] == ids[:10]
    for job_id in ids[10:20]:  # not yet listed: they leave the filter
        services.jobs.transition(job_id, st.CANCELLED, error="test")
    rest = _page(keyed_api, limit=100, status="queued", next=first["next"], **window)
    assert [job["id"] for job in rest["jobs"]] == ids[20:]
    assert rest["next"] is None


def test_a_filtered_page_reads_a_bounded_number_of_entries(services):
    owner = f"bounded-{time.time_ns()}"
    ids = _store_jobs(services, owner, 250, start=time.time() - 100)
    services.jobs.transition(ids[-1], st.RUNNING)  # only the oldest matches
    index = JobIndex(services.redis, services.settings.job_ttl, scan_budget=100)
    reads = []
    cursor = None
    while True:
        page = index.page(owner, limit=10, cursor=cursor, accept=lambda job: job.status == st.RUNNING)
        reads.append(page)
        cursor = page.next
        if cursor is None:
            break
    assert [job.id for page in reads for job in page.jobs] == [ids[-1]]
    assert len(reads) == 3  # 100 + 100 + 50 entries


def test_entries_expire_with_their_jobs(services):
    owner = f"expiry-{time.time_ns()}"
    ttl = services.settings.job_ttl
    old = _store_jobs(services, owner, 2, start=time.time() - ttl - 60)
    fresh = _store_jobs(services, owner, 3, start=time.time() - 10)
    index = JobIndex(services.redis, ttl)
    assert [job.id for job in index.page(owner, limit=100).jobs] == fresh
    assert all(services.redis.zscore(owner_key(owner), job_id) is None for job_id in old)  # trimmed on write
    assert 0 < services.redis.ttl(owner_key(owner)) <= ttl
    services.jobs.delete(fresh[0])  # a record gone by other means is skipped and dropped
    assert [job.id for job in index.page(owner, limit=100).jobs] == fresh[1:]
    assert services.redis.zscore(owner_key(owner), fresh[0]) is None
    assert services.redis.zscore(ALL_KEY, fresh[1]) is not None
