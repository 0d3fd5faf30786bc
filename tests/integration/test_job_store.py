"""The job store against a real Redis: transitions, terminal protection, expiry, the open-jobs
index, the webhook outbox written with the terminal status, requeues and their fencing."""

import itertools
import json

import pytest
from dramatiq import Message

from render_core.config.settings import Settings
from render_core.dispatch.broker import build_broker
from render_core.dispatch.messages import RUN_JOB, run_job_message
from render_core.jobs import status as st
from render_core.jobs.keys import HELD_JOBS, OPEN_JOBS, WEBHOOKS_DUE, job_key, outbox_key
from render_core.jobs.lifecycle import JobLifecycle
from render_core.jobs.store import JobStore
from render_core.net.redis_retry import RedisRetry
from render_core.sdk.schema import Schema
from render_core.sdk.task import Task, TextOutput

PARAMS = {"complete_in": 3600, "max_time": 1200, "notify_url": None}
HOOK = "http://127.0.0.1:9/hook"
TASK = Task(name="echo", schema=Schema({}), run=lambda ctx, params: TextOutput(""), output="text")


@pytest.fixture
def client(private_client):
    return private_client


@pytest.fixture
def store(client):
    return JobStore(client, ttl=100)


@pytest.fixture
def lifecycle(store):
    return JobLifecycle(store, build_broker(Settings(), store.client))


def create(store, params=PARAMS):
    record = store.new_record("echo", dict(params))
    with store.client.pipeline() as pipe:
        store.create(record, pipe)
        pipe.execute()
    return record["id"]


def test_record_round_trip_and_expiry(store):
    job_id = create(store)
    job = store.get(job_id)
    assert (job.type, job.status, job.params, job.attempts) == ("echo", "queued", PARAMS, 0)
    assert job.complete_by - job.created_at == pytest.approx(3600)
    assert 90 < store.client.ttl(f"c3render:job:{job_id}") <= 100


#: Whether a job may move from the row's status to the column's status, written out for every
#: pair (not derived from render_core.jobs.status, so a wrong entry there fails here).
#: running -> running is a redelivery after a worker died; running -> queued a retry on a fresh node.
TRANSITIONS = """
from \\ to   queued  running  success  failed  timed_out  cancelled  expired
queued        no      yes      no       yes     yes        yes        yes
running       yes     yes      yes      yes     yes        yes        yes
success       no      no       no       no      no         no         no
failed        no      no       no       no      no         no         no
timed_out     no      no       no       no      no         no         no
cancelled     no      no       no       no      no         no         no
expired       no      no       no       no      no         no         no
"""


def expected_transitions() -> dict[tuple[str, str], bool]:
    header, *rows = TRANSITIONS.strip().splitlines()
    columns = header.split()[3:]
    table = {}
    for row in rows:
        current, *answers = row.split()
        assert len(answers) == len(columns), row
        table.update({(current, new): answer == "yes" for new, answer in zip(columns, answers)})
    return table


EXPECTED = expected_transitions()


def test_the_table_covers_every_status_pair():
    statuses = ("queued", "running", "success", "failed", "timed_out", "cancelled", "expired")
    assert set(st.ALL) == set(statuses)
    assert set(EXPECTED) == set(itertools.product(statuses, statuses))


@pytest.mark.parametrize("current,new", sorted(EXPECTED))
def test_transition_table_is_enforced(store, current, new):
    job_id = create(store)
    store.client.hset(f"c3render:job:{job_id}", "status", current)
    applied, previous = store.transition(job_id, new)
    assert previous == current
    assert applied == EXPECTED[(current, new)] == st.can_move(current, new)
    assert store.status(job_id) == (new if applied else current)


def test_terminal_sets_finished_at_and_late_worker_cannot_overwrite(store):
    job_id = create(store)
    assert store.transition(job_id, st.RUNNING)[0]
    assert store.transition(job_id, st.CANCELLED, error="stop")[0]
    assert not store.transition(job_id, st.SUCCESS, text="late")[0]
    job = store.get(job_id)
    assert job.status == "cancelled" and job.text is None and job.finished_at


def test_update_writes_only_in_allowed_statuses_and_never_recreates(store):
    job_id = create(store)
    assert not store.update(job_id, progress=0.5)             # queued: not running
    store.transition(job_id, st.RUNNING)
    assert store.update(job_id, progress=0.5, progress_message="half")
    assert store.get(job_id).progress == 0.5
    store.delete(job_id)
    assert not store.update(job_id, progress=0.9)
    assert store.client.exists(f"c3render:job:{job_id}") == 0


def test_missing_job(store):
    assert store.get("00000000-0000-4000-8000-000000000000") is None
    assert store.transition("00000000-0000-4000-8000-000000000000", st.RUNNING) == (False, None)


def _messages(client, queue):
    """Decoded messages waiting on ``queue``, in queue order."""
    ids = client.lrange(f"dramatiq:{queue}", 0, -1)
    return [Message.decode(client.hget(f"dramatiq:{queue}.msgs", mid)) for mid in ids]


def test_submit_indexes_the_job_as_open_and_names_its_message(lifecycle, client):
    record = lifecycle.submit(TASK, dict(PARAMS))
    assert client.zscore(OPEN_JOBS, record["id"]) == pytest.approx(record["complete_by"])
    job = lifecycle.store.get(record["id"])
    (message,) = _messages(client, TASK.queue)
    assert (message.actor_name, list(message.args)) == (RUN_JOB, [record["id"]])
    assert job.message_id == message.options["redis_message_id"] and job.queue == TASK.queue


def test_terminal_status_writes_outbox_and_first_attempt_together(lifecycle, client):
    job_id = lifecycle.submit(TASK, {**PARAMS, "notify_url": HOOK})["id"]
    lifecycle.store.transition(job_id, st.RUNNING)
    assert lifecycle.finish(job_id, st.SUCCESS, text="done")
    assert client.zscore(OPEN_JOBS, job_id) is None
    entry = client.hgetall(outbox_key(job_id))
    assert entry[b"url"].decode() == HOOK and entry[b"attempts"] == b"0"
    assert json.loads(entry[b"body"]) == {"id": job_id, "status": "success", "text": "done"}
    assert client.zscore(WEBHOOKS_DUE, job_id) is not None
    (message,) = _messages(client, "webhooks")
    assert (message.actor_name, list(message.args)) == ("deliver_webhook", [job_id, 1])
    assert lifecycle.store.get(job_id).webhook == "pending"
    # a redelivered job that already finished owes no second webhook
    assert not lifecycle.finish(job_id, st.FAILED, error="late")
    assert not lifecycle.finish(job_id, st.SUCCESS, text="again")
    assert len(_messages(client, "webhooks")) == 1
    assert json.loads(client.hget(outbox_key(job_id), "body"))["text"] == "done"


def test_terminal_status_without_notify_url_owes_no_webhook(lifecycle, client):
    job_id = lifecycle.submit(TASK, dict(PARAMS))["id"]
    assert lifecycle.finish(job_id, st.CANCELLED, error="stop")
    assert not client.exists(outbox_key(job_id)) and client.zcard(WEBHOOKS_DUE) == 0
    assert _messages(client, "webhooks") == []


class _ReplyLostOnce(RedisRetry):
    """Runs the call, drops its reply as a broken connection would, and runs it again."""

    def call(self, fn, *args, **kwargs):
        fn(*args, **kwargs)
        return fn(*args, **kwargs)


def test_a_retried_terminal_write_whose_reply_was_lost_counts_as_applied(client):
    store = JobStore(client, ttl=100, retry=_ReplyLostOnce(budget=1))
    lifecycle = JobLifecycle(store, build_broker(Settings(), client))
    job_id = lifecycle.submit(TASK, {**PARAMS, "notify_url": HOOK})["id"]
    assert store.transition(job_id, st.CANCELLED, error="stop") == (True, "cancelled")
    assert len(_messages(client, "webhooks")) == 1


def test_requeue_replaces_the_message_and_fences_the_old_one(lifecycle, client):
    job_id = lifecycle.submit(TASK, dict(PARAMS))["id"]
    first = lifecycle.store.get(job_id).message_id
    client.lpop(f"dramatiq:{TASK.queue}")                   # a worker fetched it
    lifecycle.store.transition(job_id, st.RUNNING)
    assert lifecycle.requeue(TASK, job_id, progress_message="node failed")
    job = lifecycle.store.get(job_id)
    assert job.status == st.QUEUED and job.message_id != first and job.progress_message == "node failed"
    assert [m.options["redis_message_id"] for m in _messages(client, TASK.queue)] == [job.message_id]
    assert not lifecycle.requeue(TASK, job_id)               # only a running job is retried
    assert not lifecycle.store.requeue(job_id, run_job_message(TASK.queue, job_id), when=(st.QUEUED,),
                                       expect_message_id=first)


def test_sweep_requeue_only_for_an_unheld_job_whose_message_is_not_waiting(lifecycle, client):
    ahead = lifecycle.submit(TASK, dict(PARAMS))["id"]
    job_id = lifecycle.submit(TASK, dict(PARAMS))["id"]
    old = lifecycle.store.get(job_id).message_id
    now = client.time()[0]

    def sweep_requeue():
        return lifecycle.store.requeue(job_id, run_job_message(TASK.queue, job_id), when=(st.QUEUED, st.RUNNING),
                                       expect_message_id=old, sweep=True, now=now)

    assert not sweep_requeue()                               # its message waits in the queue
    client.lrem(f"dramatiq:{TASK.queue}", 0, old)
    client.zadd(HELD_JOBS, {job_id: now + 10})
    assert not sweep_requeue()                               # a live worker holds it
    client.zadd(HELD_JOBS, {job_id: now - 1})
    assert sweep_requeue()
    new = lifecycle.store.get(job_id).message_id
    assert new != old and not client.hexists(f"dramatiq:{TASK.queue}.msgs", old)
    waiting = [m.args[0] for m in _messages(client, TASK.queue)]
    assert waiting == [job_id, ahead]                        # back at the front: it has waited already
    assert not sweep_requeue()                               # the job names another message now


def test_delete_leaves_the_open_index(lifecycle, client):
    job_id = lifecycle.submit(TASK, dict(PARAMS))["id"]
    assert lifecycle.store.delete(job_id)
    assert client.zscore(OPEN_JOBS, job_id) is None and not client.exists(job_key(job_id))


def test_finish_tells_the_job_type_in_the_same_call_and_only_when_applied(store):
    job_id = create(store)
    assert store.transition(job_id, st.RUNNING)[0]
    assert store.finish(job_id, st.SUCCESS, text="done") == (True, "echo")
    assert store.get(job_id).status == "success"
    assert store.finish(job_id, st.FAILED, error="late") == (False, None)
