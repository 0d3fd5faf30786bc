"""Node: where a task runs, a leased GPU node or the local machine."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Node:
    """Where the task runs: a leased GPU node (base URLs + auth headers) or the local machine.

    ``urls`` maps service names to base URLs (e.g. ``{"csm": ..., "ui": ...}``);
    ``base_url`` is the node's main URL.
    """

    base_url: str = ""
    headers: dict = field(default_factory=dict)
    urls: dict = field(default_factory=dict)
    instance_id: str = ""
    local: bool = False

    @classmethod
    def local_machine(cls) -> "Node":
        return cls(local=True, instance_id="local")

    def url_for(self, service: str) -> str:
        """Base URL of a service on the node (``csm``, ``whisper``, ``ui``, ``vision``), ending in ``/``.

        Uses ``urls[service]`` when the provider set it, else ``<base_url>/<service>/``.
        """
        url = self.urls.get(service) or f"{self.base_url.rstrip('/')}/{service}/"
        return url if url.endswith("/") else url + "/"
