"""Leader election among worker processes: a Redis key with an expiry that the leader renews.

The same scheme as the GPU monitor's: ``try_lead`` renews the key while this
process holds it, else takes it if it is free. When the leader dies, another
process takes over within ``ttl`` seconds.
"""

from __future__ import annotations

import os
import socket

import redis

#: Renew the key only if we still hold it. KEYS[1] key; ARGV holder, ttl ms.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""


class Leadership:
    """Parameters:
      client: the Redis client.
      key: the leader key.
      ttl: seconds the key lives without renewal (renew well within it).
    """

    def __init__(self, client: redis.Redis, key: str, ttl: float):
        self.client = client
        self.key = key
        self.ttl = ttl
        self.identity = f"{socket.gethostname()}:{os.getpid()}:{id(self)}"
        self._renew = client.register_script(_RENEW)

    def try_lead(self) -> bool:
        """Become (or stay) the leader; True while this process leads."""
        ttl_ms = max(1, int(self.ttl * 1000))
        if self._renew(keys=[self.key], args=[self.identity, ttl_ms]):
            return True
        return bool(self.client.set(self.key, self.identity, nx=True, px=ttl_ms))

    def is_leader(self) -> bool:
        value = self.client.get(self.key)
        return value is not None and value.decode() == self.identity

    def resign(self) -> None:
        """Give the key up (at shutdown) so another process leads at once."""
        if self.is_leader():
            self.client.delete(self.key)
