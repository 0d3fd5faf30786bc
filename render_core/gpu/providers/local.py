"""The ``local`` provider: jobs run on the worker's own machine with the plugins' local engines."""

from __future__ import annotations

import time

from render_core.sdk.node import Node

from .base import Instance


class LocalProvider:
    """Always has capacity (``unlimited``): no launches, no bookkeeping, always healthy."""

    name = "local"
    unlimited = True
    #: The local machine runs anyway (never reconciled: the provider is unlimited).
    always_running = True

    @classmethod
    def from_settings(cls, settings) -> "LocalProvider":
        return cls()

    def launch(self, workload: str, *, expires_at: float | None = None,
               taken: frozenset[str] | set[str] = frozenset()) -> Instance:
        return Instance(id="local", workload=workload, node=Node.local_machine(),
                        launched_at=time.time(), expires_at=None, provider=self.name)

    def stop(self, instance_id: str) -> None:
        """Nothing to stop."""

    def list_running(self) -> list[Instance]:
        return []

    def health(self, instance: Instance) -> bool:
        return True

    def authorize(self, node: Node) -> Node:
        return node
