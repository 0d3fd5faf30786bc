"""Chaos suite: faults under load on the shipped commands (``c3-render api`` + ``c3-render worker``)
against a redis-server with AOF, judged by what happened to every accepted job.

Each test prints its counts (accepted, terminal, lost, duplicates delivered) and the time from the
end of the fault until every accepted job was terminal, and until every webhook was delivered.
The worker runs with a short sweep (SWEEP_INTERVAL=1, JOB_HOLD_TTL=3) and a test webhook schedule
so the suite takes a few minutes, not hours.
"""

import time

import pytest
import requests

from render_core.dispatch.broker import redis_id, with_redis_id
from render_core.dispatch.messages import run_job_message
from render_core.jobs.store import JobStore
from support.chaos import ChaosReceiver, ChaosStack, Load, settle
from support.servers import wait_for

pytestmark = pytest.mark.slow

#: Offsets 0, 1, 3, 7, 15, 31, 47, 63, 79, 95 s: a receiver down for 60 s gets its webhook within 16 s.
SCHEDULE = "1,2,4,8,16,16,16,16,16"


@pytest.fixture(scope="module")
def receiver():
    receiver = ChaosReceiver()
    receiver.up()
    yield receiver
    receiver.down()


@pytest.fixture(scope="module")
def chaos(stack_env, tmp_path_factory):
    env = {k: v for k, v in stack_env.items() if k not in ("WEBHOOK_ATTEMPTS", "WEBHOOK_INTERVAL")}
    env.update({"WEBHOOK_SCHEDULE": SCHEDULE, "WEBHOOK_TIMEOUT": "3", "SWEEP_INTERVAL": "1",
                "JOB_HOLD_TTL": "3", "STATE_WRITE_RETRY": "30", "LOG_LEVEL": "WARNING"})
    stack = ChaosStack(env, tmp_path_factory.mktemp("chaos"))
    stack.start()
    yield stack
    stack.stop()


def report(capsys, line: str) -> None:
    with capsys.disabled():
        print(f"\n{line}")


def test_worker_process_group_killed_under_load(chaos, receiver, capsys):
    with Load(chaos.api_url, f"{receiver.url}/a") as load:
        time.sleep(3)
        chaos.kill_workers()
        time.sleep(1)
        chaos.start_worker()
        since = time.monotonic()
        time.sleep(2)
    outcome = settle(chaos, receiver, load.accepted, since)
    report(capsys, outcome.line("(a) worker group kill -9"))
    assert outcome.accepted > 100 and set(load.answers) == {200}
    assert outcome.open == [] and outcome.missing == []
    assert outcome.undelivered == 0


@pytest.mark.parametrize("fsync", ["everysec", "always"])
def test_redis_killed_and_restarted_under_load(chaos, receiver, capsys, fsync):
    chaos.client().config_set("appendfsync", fsync)
    with Load(chaos.api_url, f"{receiver.url}/b-{fsync}") as load:
        time.sleep(2)
        chaos.redis.kill()
        time.sleep(3)
        chaos.redis.start()
        since = time.monotonic()
        time.sleep(2)
    outcome = settle(chaos, receiver, load.accepted, since)
    report(capsys, outcome.line(f"(b) redis kill -9 + restart, appendfsync {fsync}",
                                **{"503 JSON answers": load.unavailable_json}))
    assert load.unavailable_json > 0 and set(load.answers) <= {200, 503}
    assert load.answers[503] == load.unavailable_json           # every 503 was JSON with a title
    assert outcome.open == []
    if fsync == "always":
        assert outcome.missing == []
    assert outcome.undelivered == 0


def test_redis_graceful_restart_under_load(chaos, receiver, capsys):
    chaos.client().config_set("appendfsync", "everysec")
    with Load(chaos.api_url, f"{receiver.url}/c") as load:
        time.sleep(2)
        chaos.shutdown_redis()
        time.sleep(2)
        chaos.redis.start()
        since = time.monotonic()
        time.sleep(2)
    outcome = settle(chaos, receiver, load.accepted, since)
    report(capsys, outcome.line("(c) redis SHUTDOWN + restart", **{"503 JSON answers": load.unavailable_json}))
    assert outcome.open == [] and outcome.missing == []
    assert outcome.undelivered == 0 and outcome.duplicates == 0


def test_receiver_down_for_60_s_gets_each_webhook_once(chaos, receiver, capsys):
    receiver.down()
    down_at = time.monotonic()
    with Load(chaos.api_url, f"{receiver.url}/d", rate=5.0) as load:
        time.sleep(3)
    job_id = load.accepted[0]

    def retrying():
        webhook = requests.get(f"{chaos.api_url}/status/{job_id}", timeout=5).json().get("webhook", {})
        return webhook if webhook.get("status") == "retrying" else None

    webhook = wait_for(retrying, timeout=20, message="a webhook retrying")
    assert webhook["attempts"] >= 1 and webhook["error"] and webhook["next_attempt_at"]
    time.sleep(max(0.0, 60 - (time.monotonic() - down_at)))
    receiver.up()
    outcome = settle(chaos, receiver, load.accepted, time.monotonic(), timeout=60)
    report(capsys, outcome.line("(d) webhook receiver down 60 s"))
    assert outcome.open == [] and outcome.missing == []
    assert set(outcome.delivered.values()) == {1}                   # exactly one 200 per job
    client = chaos.client()
    for job in load.accepted:
        assert int(client.hget(f"c3render:job:{job}", "webhook_attempts")) >= 2     # it was retried
        assert set(receiver.webhook_ids[job]) == {job}              # one webhook-id: the job id


def test_worker_killed_between_terminal_write_and_webhook_send(chaos, receiver, capsys):
    receiver.hang()
    job_ids = [requests.post(f"{chaos.api_url}/echo", json={"message": "e", "notify_url": f"{receiver.url}/e"},
                             timeout=10).json()["id"] for _ in range(30)]
    wait_for(lambda: receiver.hung >= 4, timeout=10, message="webhook posts in flight")
    chaos.kill_workers()
    hung = receiver.hung
    receiver.up()
    chaos.start_worker()
    outcome = settle(chaos, receiver, job_ids, time.monotonic(), timeout=60)
    report(capsys, outcome.line("(e) worker kill -9 between terminal write and webhook", **{"posts cut": hung}))
    assert outcome.open == [] and outcome.missing == []
    assert set(outcome.delivered.values()) == {1}
    for job in job_ids:
        assert set(receiver.webhook_ids[job]) == {job}


def test_jobs_left_open_by_lost_writes_are_finished_by_the_sweeper(chaos, receiver, capsys):
    """The states a lost write leaves behind, made on purpose: a queued job whose run_job message is
    gone (an unsynced enqueue), and running jobs whose message sits in the in-flight set of a live
    worker that no longer has it (its ack and terminal write were lost). Dramatiq never returns
    those messages; the sweeper must."""
    client = chaos.client()
    store = JobStore(client, ttl=3600)
    live_worker = wait_for(lambda: client.zrange("dramatiq:__heartbeats__", -1, -1), timeout=20,
                           message="a worker heartbeat")[0].decode()
    job_ids = []
    for n in range(10):
        record = store.new_record("echo", {"message": "lost", "notify_url": f"{receiver.url}/f", "seconds": 0,
                                           "fail": None, "ignore_cancel": False, "input_url": None,
                                           "complete_in": 3600, "max_time": 1200}, queue="task.echo")
        message = with_redis_id(run_job_message("task.echo", record["id"]))
        record["message_id"] = redis_id(message)
        with client.pipeline() as pipe:
            store.create(record, pipe)
            if n % 2:                                          # forgotten by a live worker, mid-run
                pipe.hset(f"c3render:job:{record['id']}",
                          mapping={"status": "running", "attempts": 1, "started_at": time.time()})
                pipe.hset("dramatiq:task.echo.msgs", redis_id(message), message.encode())
                pipe.sadd(f"dramatiq:__acks__.{live_worker}.task.echo", redis_id(message))
            pipe.execute()
        job_ids.append(record["id"])
    outcome = settle(chaos, receiver, job_ids, time.monotonic(), timeout=60)
    report(capsys, outcome.line("(f) open jobs left by lost writes"))
    assert outcome.open == [] and outcome.missing == []
    assert outcome.statuses == {"success": 10}
    assert set(outcome.delivered.values()) == {1}
