"""What the pool learns about each workload's demand, kept in Redis: samples of recent behaviour.

Per workload (keys ``c3render:gpu:demand:<workload>:...``, the newest ``SAMPLES`` of each):
  ``gaps``      seconds from a lease's release to the next lease request (how long the most
                recently freed node would have stayed idle before being needed again);
  ``holds``     seconds a lease was held (a job's time on the node);
  ``launches``  seconds from a launch call to the node's first passed health check.
A release stores its time in ``released``; the next request turns it into one gap sample
and clears it, so each release yields at most one gap (the warm node's idle period).
"""

from __future__ import annotations

import redis

PREFIX = "c3render:gpu:demand:"
#: Samples kept per series.
SAMPLES = 200

#: KEYS[1] released-at key, KEYS[2] gaps list; ARGV now, samples kept.
_REQUEST = """
local released = redis.call('GETDEL', KEYS[1])
if released then
  local gap = tonumber(ARGV[1]) - tonumber(released)
  if gap < 0 then gap = 0 end
  redis.call('LPUSH', KEYS[2], gap)
  redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[2]) - 1)
end
return 1
"""


class DemandStats:
    """Records and reads the demand samples of each workload (see the module doc)."""

    def __init__(self, client: redis.Redis, samples: int = SAMPLES):
        self.client = client
        self.samples = samples
        self._request = client.register_script(_REQUEST)

    def _key(self, workload: str, series: str) -> str:
        return f"{PREFIX}{workload}:{series}"

    def requested(self, workload: str, now: float) -> None:
        """A job asks for a node at ``now`` (unix s): closes the gap opened by the last release."""
        self._request(keys=[self._key(workload, "released"), self._key(workload, "gaps")], args=[now, self.samples])

    def released(self, workload: str, now: float, held: float | None) -> None:
        """A lease held ``held`` s ended at ``now``."""
        with self.client.pipeline(transaction=False) as pipe:
            pipe.set(self._key(workload, "released"), now, ex=86400)
            if held is not None:
                self._push(pipe, workload, "holds", max(0.0, held))
            pipe.execute()

    def launched(self, workload: str, seconds: float) -> None:
        """A new node took ``seconds`` from the launch call to its first passed health check."""
        with self.client.pipeline(transaction=False) as pipe:
            self._push(pipe, workload, "launches", max(0.0, seconds))
            pipe.execute()

    def _push(self, pipe, workload: str, series: str, value: float) -> None:
        key = self._key(workload, series)
        pipe.lpush(key, value)
        pipe.ltrim(key, 0, self.samples - 1)

    def series(self, workload: str, name: str) -> list[float]:
        """The samples of ``name`` (gaps, holds, launches), newest first."""
        return [float(v) for v in self.client.lrange(self._key(workload, name), 0, -1)]
