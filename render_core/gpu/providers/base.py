"""What a GPU provider is: launch, stop, list and health-check instances of a workload type."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from render_core.sdk.node import Node


class LaunchError(Exception):
    """The provider could not launch an instance (after its own retries)."""


@dataclass(frozen=True)
class Instance:
    """One running (or launching) GPU instance.

    Parameters:
      id: the provider's id (Comput3 workload uuid, ``static-<hash of the URL>``, ...); it names
        Redis keys, so it never holds a URL or a credential.
      workload: the workload type it serves (e.g. ``media:fast``).
      node: how tasks reach it (base URL, service URLs, auth headers).
      launched_at: unix time (s) it was launched; ``expires_at``: unix time (s)
        the provider stops it by itself, or None.
    """

    id: str
    workload: str
    node: Node
    launched_at: float
    expires_at: float | None = None
    provider: str = ""
    extra: dict = field(default_factory=dict)


class Provider(Protocol):
    """A source of GPU instances.

    Attributes every provider declares:
      name: the ``GPU_PROVIDER`` value that selects it.
      unlimited: True when it always has capacity and needs no pool bookkeeping (``local``):
        the worker then builds no pool, no lease and no monitor.
      always_running: True when its instances run whether or not the pool holds them
        (``static`` nodes): reconcile never adopts them, and ``stop`` only gives one back.
    """

    name: str
    unlimited: bool
    always_running: bool

    def launch(self, workload: str, *, expires_at: float, taken: frozenset[str] | set[str] = frozenset()) -> Instance:
        """Start an instance of ``workload`` that the provider stops by itself at ``expires_at`` (unix s).

        ``taken``: ids of instances the pool already holds (and of nodes given back broken, while
        other nodes are free); a provider with a fixed set of nodes returns one not in it, one
        that creates instances ignores it. Raises LaunchError when it cannot.
        """

    def stop(self, instance_id: str) -> None:
        """Stop (or give back) an instance; stopping an unknown or stopped one is not an error."""

    def list_running(self) -> list[Instance]:
        """Every instance the provider runs (and bills) for us now."""

    def health(self, instance: Instance) -> bool:
        """True when the instance answers (one check; ``render_core.gpu.health`` retries)."""

    def authorize(self, node: Node) -> Node:
        """``node`` as the pool stored it (public URLs, no credentials) made usable by this worker:
        the auth headers (and any URL credentials) from this process's own settings."""
