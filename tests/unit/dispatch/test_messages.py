"""The messages between API and workers reach actors declared under the shared names."""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.stub import StubBroker

from render_core.dispatch.messages import (DELIVER_WEBHOOK, RUN_JOB, WEBHOOK_QUEUE, run_job_message,
                                           webhook_message)
from support.job_harness import process


def test_message_fields():
    job = run_job_message("task.csm", "job-1")
    assert (job.queue_name, job.actor_name, job.args, job.kwargs) == ("task.csm", RUN_JOB, ("job-1",), {})
    hook = webhook_message("job-1", 2)
    assert (hook.queue_name, hook.actor_name) == (WEBHOOK_QUEUE, DELIVER_WEBHOOK)
    assert hook.args == ("job-1", 2)
    assert run_job_message("task.csm", "job-1").message_id != job.message_id


def test_actors_under_the_shared_names_receive_the_arguments():
    broker = StubBroker(middleware=[])
    received = []
    dramatiq.actor(lambda job_id: received.append((RUN_JOB, job_id)), broker=broker, actor_name=RUN_JOB,
                   queue_name="task.csm")
    dramatiq.actor(lambda job_id, attempt: received.append((DELIVER_WEBHOOK, job_id, attempt)),
                   broker=broker, actor_name=DELIVER_WEBHOOK, queue_name=WEBHOOK_QUEUE)
    process(broker, run_job_message("task.csm", "job-1"), webhook_message("job-1", 1))
    assert sorted(received, key=str) == sorted([(RUN_JOB, "job-1"), (DELIVER_WEBHOOK, "job-1", 1)], key=str)
    broker.close()
