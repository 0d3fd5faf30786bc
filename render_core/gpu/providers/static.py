"""The ``static`` provider: a fixed list of GPU nodes (self-hosted boxes, Kubernetes Services).

``STATIC_NODES`` is a comma-separated list of entries ``<base URL>`` or ``<base URL>|<ComfyUI URL>``::

    STATIC_NODES=http://gpu-1.internal:8000,http://gpu-2.internal:8000|http://gpu-2.internal:8188

CSM and Whisper are reached at ``<base URL>/csm/`` and ``<base URL>/whisper/``; ComfyUI at the
URL after ``|``, else at the base URL itself. ``STATIC_NODE_KEY`` (optional) is sent to the
nodes as ``X-C3-API-KEY`` and as ``Authorization: Bearer``.

The provider keeps no state: the pool (in Redis) knows which nodes are handed out and tells
``launch`` through ``taken``. An instance's id is ``static-`` and a hash of its base URL, so
neither a URL nor the credentials it may carry (``https://user:pass@host``) name a Redis key;
``authorize`` gives a worker back the configured URL and the key from its own settings.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, replace
from typing import Callable
from urllib.parse import urlsplit

from render_core.sdk.node import Node

from .base import Instance, LaunchError
from .common import node_answers
from .errors import ProviderError

#: Static nodes serve the ``media:fast`` protocol (CSM, Whisper, ComfyUI on one node).
DEFAULT_WORKLOAD = "media:fast"


@dataclass(frozen=True)
class StaticNode:
    """One configured node: its base URL (no trailing slash) and its ComfyUI URL."""

    url: str
    ui_url: str

    @property
    def id(self) -> str:
        """The node's instance id: ``static-`` and 16 hex digits of the SHA-256 of its base URL."""
        return "static-" + hashlib.sha256(self.url.encode()).hexdigest()[:16]


def parse_static_nodes(text: str) -> list[StaticNode]:
    """Parse STATIC_NODES; raises ProviderError naming a bad or repeated entry."""
    nodes: list[StaticNode] = []
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        url, _, ui_url = (piece.strip() for piece in entry.partition("|"))
        for candidate in (url, ui_url) if ui_url else (url,):
            parts = urlsplit(candidate)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ProviderError(f"STATIC_NODES entry {entry!r} is not valid: {candidate!r} is not an "
                                    f"http(s) URL (expected <base URL> or <base URL>|<ComfyUI URL>)")
        node = StaticNode(url=url.rstrip("/"), ui_url=(ui_url or url).rstrip("/"))
        if any(existing.url == node.url for existing in nodes):
            raise ProviderError(f"STATIC_NODES lists {node.url} more than once")
        nodes.append(node)
    return nodes


class StaticProvider:
    """Hands out configured nodes that the pool has not handed out yet; they always run.

    Parameters:
      nodes: the nodes (``StaticNode``, or plain base URLs).
      key: optional node key, sent as ``X-C3-API-KEY`` and ``Authorization: Bearer``.
      health_timeout: seconds allowed for a node's ``GET /`` (connect and read each).
      workload: the workload type reported for the nodes by ``list_running``.
    """

    name = "static"
    unlimited = False
    #: The nodes run whether leased or not: reconcile never adopts them as pool instances.
    always_running = True

    def __init__(self, nodes: list[StaticNode | str], key: str = "", *, health_timeout: float = 5.0,
                 workload: str = DEFAULT_WORKLOAD, clock: Callable[[], float] = time.time):
        self.nodes = [node if isinstance(node, StaticNode) else parse_static_nodes(node)[0] for node in nodes]
        if not self.nodes:
            raise ProviderError("GPU_PROVIDER=static needs at least one node URL in STATIC_NODES")
        self.key = key
        self.health_timeout = health_timeout
        self.workload = workload
        self.clock = clock

    @classmethod
    def from_settings(cls, settings) -> "StaticProvider":
        """Build from STATIC_NODES, STATIC_NODE_KEY and HEALTH_TIMEOUT."""
        return cls(parse_static_nodes(settings.static_nodes), settings.static_node_key,
                   health_timeout=settings.health_timeout)

    def launch(self, workload: str, *, expires_at: float | None = None,
               taken: frozenset[str] | set[str] = frozenset()) -> Instance:
        """The first configured node whose id is not in ``taken``; LaunchError when none is free."""
        for node in self.nodes:
            if node.id not in taken:
                return self._instance(node, workload)
        raise LaunchError(f"all {len(self.nodes)} static nodes are in use")

    def stop(self, instance_id: str) -> None:
        """Nothing to stop: the node is given back to the pool and keeps running."""

    def list_running(self) -> list[Instance]:
        """Every configured node (static nodes always run)."""
        return [self._instance(node, self.workload) for node in self.nodes]

    def health(self, instance: Instance) -> bool:
        """One check: ``GET <base URL>/`` answers 200 within ``health_timeout``."""
        return node_answers(instance.node.base_url, instance.node.headers, self.health_timeout)

    def authorize(self, node: Node) -> Node:
        """The configured node of ``node.instance_id`` (URLs as configured, the key's headers);
        an id no longer configured keeps its public URLs and gets the key's headers."""
        configured = next((entry for entry in self.nodes if entry.id == node.instance_id), None)
        if configured is None:
            return replace(node, headers=self._headers())
        return self._reach(configured)

    def _headers(self) -> dict:
        return {"X-C3-API-KEY": self.key, "Authorization": f"Bearer {self.key}"} if self.key else {}

    def _reach(self, node: StaticNode) -> Node:
        return Node(base_url=node.url, headers=self._headers(), instance_id=node.id,
                    urls={"csm": node.url + "/csm/", "whisper": node.url + "/whisper/", "ui": node.ui_url})

    def _instance(self, node: StaticNode, workload: str) -> Instance:
        return Instance(id=node.id, workload=workload, node=self._reach(node), launched_at=self.clock(),
                        expires_at=None, provider=self.name)
