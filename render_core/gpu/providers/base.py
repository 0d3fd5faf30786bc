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
      id: the provider's id (Comput3 workload uuid, static node URL, ...).
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
    """A source of GPU instances. ``unlimited`` providers (local) need no pool bookkeeping."""

    name: str
    unlimited: bool

    def launch(self, workload: str, *, expires_at: float) -> Instance:
        """Start an instance; raises LaunchError when it cannot."""

    def stop(self, instance_id: str) -> None:
        """Stop (or give back) an instance; stopping an unknown or stopped one is not an error."""

    def list_running(self) -> list[Instance]:
        """Every instance the provider runs (and bills) for us now."""

    def health(self, instance: Instance) -> bool:
        """True when the instance answers (one check; the monitor retries)."""
