"""Exposing metrics: the multiprocess-aware registry and the queue-depth collector."""

from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path

import redis
from prometheus_client import REGISTRY, CollectorRegistry, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from render_core.dispatch.broker import NAMESPACE

log = logging.getLogger(__name__)


def prepare_multiprocess_dir(path: str, *, clean: bool = True) -> str:
    """Create (and with ``clean`` empty) the metric files directory before workers start writing."""
    directory = Path(path)
    if clean and directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True, exist_ok=True)
    return str(directory)


def scrape_registry(multiprocess_dir: str = "", extra_collectors=()) -> CollectorRegistry:
    """The registry to serve: every process's files in ``multiprocess_dir`` (PROMETHEUS_MULTIPROC_DIR)
    when set, else this process's."""
    registry = CollectorRegistry()
    if multiprocess_dir:
        MultiProcessCollector(registry, path=multiprocess_dir)
    else:
        registry.register(_ProcessMetrics())
    for collector in extra_collectors:
        registry.register(collector)
    return registry


def serve_metrics(port: int, address: str, multiprocess_dir: str) -> None:
    """Serve ``/metrics`` of every process in ``multiprocess_dir`` from a daemon thread."""
    start_http_server(port, addr=address, registry=scrape_registry(multiprocess_dir))
    log.info("worker metrics on http://%s:%d/metrics", address, port)


class _ProcessMetrics:
    """This process's default registry, served through another registry."""

    def describe(self):
        return []

    def collect(self):
        yield from REGISTRY.collect()


class QueueCollector:
    """``c3_render_queue_depth`` and ``c3_render_queue_oldest_age_seconds`` read from the broker's lists."""

    def __init__(self, client: redis.Redis, queues):
        self.client = client
        self.queues = sorted(queues)

    def describe(self):
        return []

    def collect(self):
        depth = GaugeMetricFamily("c3_render_queue_depth", "Messages waiting in a queue.", labels=["queue"])
        age = GaugeMetricFamily("c3_render_queue_oldest_age_seconds",
                                "Age in seconds of the oldest waiting message.", labels=["queue"])
        now = time.time()
        try:
            with self.client.pipeline(transaction=False) as pipe:
                for queue in self.queues:
                    pipe.llen(f"{NAMESPACE}:{queue}")
                    pipe.lindex(f"{NAMESPACE}:{queue}", 0)
                answers = pipe.execute()
            for index, queue in enumerate(self.queues):
                length, first = answers[2 * index], answers[2 * index + 1]
                depth.add_metric([queue], length)
                age.add_metric([queue], self._age(queue, first, now))
        except redis.RedisError as exc:
            log.warning("queue metrics unavailable: %s", exc)
            return
        yield depth
        yield age

    def _age(self, queue: str, message_id, now: float) -> float:
        if not message_id:
            return 0.0
        raw = self.client.hget(f"{NAMESPACE}:{queue}.msgs", message_id)
        if not raw:
            return 0.0
        try:
            return max(0.0, now - json.loads(raw)["message_timestamp"] / 1000)
        except (ValueError, KeyError, TypeError):
            return 0.0
