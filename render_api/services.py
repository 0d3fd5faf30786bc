"""The API's composition root: what the HTTP process needs, and nothing of the worker's.

The job store, the registry, a broker that only sends messages, the job
lifecycle (submit, finish), the job index, the API keys, the waits of ``Prefer: wait`` and
object storage (uploads, ``remove_data``). No GPU provider, pool or lease is built here, so
the API needs no provider secret.
"""

from __future__ import annotations

from functools import cached_property

from render_core.config.settings import Settings
from render_core.dispatch.broker import build_broker
from render_core.jobs.index import JobIndex
from render_core.jobs.lifecycle import JobLifecycle
from render_core.jobs.store import JobStore
from render_core.jobs.webhook_outbox import claim_seconds
from render_core.net.redis_client import connect
from render_core.net.storage import Storage
from render_core.net.upload_urls import UploadUrls
from render_core.sdk.registry import Registry

from .keys import KeyRing
from .waits import JobWaits

#: Redis connections one API process opens at most (threads beyond this wait for one).
REDIS_CONNECTIONS = 64


class ApiServices:
    """Parameters:
      settings: deployment settings.
      registry: loaded plugins (the tasks the API mounts).
      client: a Redis client (default: one for ``settings.redis_url``).
    """

    def __init__(self, settings: Settings, registry: Registry, client=None):
        self.settings = settings
        self.registry = registry
        self.redis = client or connect(settings.redis_url, max_connections=REDIS_CONNECTIONS)
        self.jobs = JobStore(self.redis, settings.job_ttl, webhook_claim=claim_seconds(settings.webhook_timeout))
        self.index = JobIndex(self.redis, settings.job_ttl)
        self.broker = build_broker(settings, self.redis)
        self.lifecycle = JobLifecycle(self.jobs, self.broker, self.index)
        self.keys = KeyRing(settings.render_api_key, settings.render_keys, settings.render_keys_file)
        self.waits = JobWaits(self.redis, settings.max_waits)
        self.upload_urls = UploadUrls(settings)
        for task in registry.tasks.values():
            self.broker.declare_queue(task.queue)

    @cached_property
    def storage(self) -> Storage:
        """Object storage, built on first use (uploads and ``remove_data`` need it)."""
        return Storage(self.settings)
