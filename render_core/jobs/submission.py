"""A job submission in one script call: the record, its index entries and its ``run_job`` message.

Writes what :meth:`JobStore.create`, :meth:`JobIndex.add` and an enqueue write in the
MULTI/EXEC of an idempotent submission: the record (naming its message), the open-jobs
index, the owner and all-jobs indexes, the message and its wake-up.

One EVALSHA instead of a MULTI/EXEC of ~10 commands (and the SCRIPT EXISTS a pipeline sends
before running the broker's script): the API's slowest step per POST was its Redis round
trips. Lua runs the writes in one step, so no reader sees the job without its message or
the message without its job. The keys and arguments of the message part come from the
broker (``WakingRedisBroker.prepare``), so the queue layout stays the broker's business.
"""

from __future__ import annotations

import redis

#: KEYS[1] record hash, KEYS[2] queue list, KEYS[3] queue message hash, KEYS[4] open jobs,
#: KEYS[5..] owner/all index sets; ARGV[1] record TTL (s), ARGV[2] index TTL (s), ARGV[3] job id,
#: ARGV[4] created_at (index score), ARGV[5] index entries scored below this are dropped,
#: ARGV[6] complete_by (open-jobs score), ARGV[7] message id, ARGV[8] encoded message,
#: ARGV[9] wake-up channel, ARGV[10..] record field/value pairs.
SUBMIT_SCRIPT = """
redis.call('HSET', KEYS[1], unpack(ARGV, 10))
redis.call('EXPIRE', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[4], ARGV[6], ARGV[3])
for i = 5, #KEYS do
  redis.call('ZADD', KEYS[i], ARGV[4], ARGV[3])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', '(' .. ARGV[5])
  redis.call('EXPIRE', KEYS[i], ARGV[2])
end
redis.call('HSET', KEYS[3], ARGV[7], ARGV[8])
redis.call('RPUSH', KEYS[2], ARGV[7])
redis.call('PUBLISH', ARGV[9], '1')
return 1
"""


class SubmitScript:
    """Parameters:
      client: the Redis client the script runs on.
    """

    def __init__(self, client: redis.Redis):
        self._script = client.register_script(SUBMIT_SCRIPT)

    def __call__(self, *, record_key: str, fields: list, ttl: int, job_id: str, created_at: float,
                 open_key: str, complete_by: float, index_keys: list[str], index_ttl: int,
                 message_keys: list[str], message_args: list) -> None:
        """Write the record (``fields``: name/value pairs) to expire after ``ttl`` s, add ``job_id``
        to the open jobs (``open_key``) scored ``complete_by`` and to ``index_keys`` scored
        ``created_at`` (dropping entries older than ``index_ttl`` s), and queue the message."""
        queue, messages = message_keys
        message_id, data, channel = message_args
        self._script(keys=[record_key, queue, messages, open_key, *index_keys],
                     args=[ttl, index_ttl, job_id, repr(float(created_at)), repr(float(created_at) - index_ttl),
                           repr(float(complete_by)), message_id, data, channel, *fields])
