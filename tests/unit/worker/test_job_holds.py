from queue import PriorityQueue

from dramatiq import Message
from dramatiq.broker import MessageProxy
from dramatiq.worker import _WorkQueueItem

from render_core.worker.job_holds import JobHolds


class FakeRedis:
    def __init__(self):
        self.holds = {}

    def zadd(self, key, mapping):
        self.holds.update(mapping)


class FakeWorker:
    def __init__(self, *messages):
        self.work_queue = PriorityQueue()
        for message in messages:
            self.work_queue.put(_WorkQueueItem(0, MessageProxy(message)))


def message(actor, *args):
    return Message(queue_name="q", actor_name=actor, args=args, kwargs={}, options={})


def test_running_and_prefetched_jobs_are_held_and_published_with_an_expiry():
    client = FakeRedis()
    holds = JobHolds(client, ttl=30, clock=lambda: 1000.0)
    holds.attach(FakeWorker(message("run_job", "waiting"), message("deliver_webhook", "hook", 1)))
    holds.begin("running")
    assert client.holds == {"running": 1030.0}               # at once, not at the next beat
    assert holds.held() == {"running", "waiting"}
    holds.publish(holds.held())
    assert client.holds == {"running": 1030.0, "waiting": 1030.0}
    holds.end()
    assert holds.held() == {"waiting"}
