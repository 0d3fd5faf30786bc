"""An in-process GPU provider whose answers a test scripts: no HTTP, every call recorded.

It implements ``render_core.gpu.providers.base.Provider``. Instances get ids ``inst-1``,
``inst-2``, ... (or, with ``nodes``, the first listed id not in ``taken``, as a static
provider does). Knobs: ``launch_error`` (the next launches raise LaunchError with this
text), ``healthy_after`` (checks an instance fails before it answers), ``broken`` (ids
that never answer), ``health_raises`` (ids whose check raises). Records: ``launches``
(workload, expires_at, taken), ``stops``, ``health_checks`` (ids, in order).
"""

from __future__ import annotations

import threading
from collections import Counter

from render_core.gpu.providers.base import Instance, LaunchError
from render_core.sdk.node import Node


class ScriptedProvider:
    name = "scripted"
    unlimited = False

    def __init__(self, clock, *, nodes: list[str] | None = None, healthy_after: int = 0,
                 always_running: bool = False):
        self.clock = clock
        self.nodes = nodes
        self.healthy_after = healthy_after
        self.always_running = always_running
        self.launch_error: str | None = None
        self.broken: set[str] = set()
        self.health_raises: set[str] = set()
        self.running: dict[str, Instance] = {}
        self.launches: list[tuple[str, float, frozenset]] = []
        self.stops: list[str] = []
        self.health_checks: list[str] = []
        self._checks: Counter = Counter()
        self._lock = threading.Lock()

    def launch(self, workload: str, *, expires_at: float, taken=frozenset()) -> Instance:
        with self._lock:
            self.launches.append((workload, expires_at, frozenset(taken)))
            if self.launch_error:
                raise LaunchError(self.launch_error)
            if self.nodes is not None:
                free = [node for node in self.nodes if node not in taken]
                if not free:
                    raise LaunchError(f"all {len(self.nodes)} nodes are in use")
                instance_id = free[0]
            else:
                instance_id = f"inst-{len(self.launches)}"
            instance = self.make_instance(instance_id, workload, expires_at)
            self.running[instance_id] = instance
            return instance

    def make_instance(self, instance_id: str, workload: str, expires_at: float | None = None) -> Instance:
        node = Node(base_url=f"http://{instance_id}.invalid", instance_id=instance_id,
                    headers={"X-C3-API-KEY": "scripted"})
        return Instance(id=instance_id, workload=workload, node=node, launched_at=self.clock(),
                        expires_at=expires_at, provider=self.name)

    def stop(self, instance_id: str) -> None:
        with self._lock:
            self.stops.append(instance_id)
            if not self.always_running:
                self.running.pop(instance_id, None)

    def list_running(self) -> list[Instance]:
        with self._lock:
            return list(self.running.values())

    def authorize(self, node: Node) -> Node:
        """The stored node with this worker's credentials (the pool stores none)."""
        return Node(base_url=node.base_url, urls=node.urls, instance_id=node.instance_id,
                    headers={"X-C3-API-KEY": "scripted"})

    def health(self, instance: Instance) -> bool:
        with self._lock:
            self.health_checks.append(instance.id)
            self._checks[instance.id] += 1
            if instance.id in self.health_raises:
                raise ConnectionError(f"{instance.id} dropped the connection")
            if instance.id in self.broken:
                return False
            return self._checks[instance.id] > self.healthy_after
