"""The Redis keys of the jobs package, in one place.

``c3render:job:<id>``        hash: the job record (expires ``job_ttl`` s after creation)
``c3render:jobs:open``       sorted set: ids of jobs not yet terminal, scored by ``complete_by`` (unix s)
``c3render:jobs:held``       sorted set: ids of jobs a live worker holds (running or waiting in its
                             memory), scored by the unix time the hold expires unless renewed
``c3render:webhook:<id>``    hash: a webhook still owed (url, body, attempts, in-flight attempt)
``c3render:webhooks:due``    sorted set: ids of owed webhooks, scored by when the next attempt is due
``c3render:jobs:finished``   pub/sub channel: the id of every job that reaches a terminal status
"""

KEY_PREFIX = "c3render:job:"
OPEN_JOBS = "c3render:jobs:open"
HELD_JOBS = "c3render:jobs:held"
OUTBOX_PREFIX = "c3render:webhook:"
WEBHOOKS_DUE = "c3render:webhooks:due"
#: Pub/sub channel on which every move to a terminal status publishes the job id.
FINISHED_CHANNEL = "c3render:jobs:finished"


def job_key(job_id: str) -> str:
    return KEY_PREFIX + job_id


def outbox_key(job_id: str) -> str:
    return OUTBOX_PREFIX + job_id
