"""Client-visible text (a job's error and progress message) with no trace of where the GPU node is.

Task plugins, ours or a third party's, may put an exception's text into an error, and that text
can name the node's URL (with userinfo), its host and port, or urllib3's pool description. The
runner passes every error and progress message through :func:`public_text` before storing it;
the log keeps the full text.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from render_core.sdk.node import Node

NODE = "the GPU node"
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@]+@")
_POOL = re.compile(r"\w*HTTPS?ConnectionPool\(host=[^)]*\)")
_OBJECT = re.compile(r"<[\w.]+ object at 0x[0-9a-f]+>")


def public_text(text: str | None, node: Node) -> str | None:
    """``text`` without the node's URLs or host, URL userinfo, connection pool or object descriptions."""
    if not text:
        return text
    for url in sorted(_node_urls(node), key=len, reverse=True):
        text = text.replace(url, NODE)
    text = _USERINFO.sub(r"\1", text)
    text = _POOL.sub("a connection to " + NODE, text)
    text = _OBJECT.sub("a connection", text)
    for host in sorted(_node_hosts(node), key=len, reverse=True):
        text = text.replace(host, NODE)
    return text


def _node_urls(node: Node) -> set[str]:
    return {url.rstrip("/") for url in (node.base_url, *node.urls.values()) if url.rstrip("/")}


def _node_hosts(node: Node) -> set[str]:
    hosts: set[str] = set()
    for url in _node_urls(node):
        parts = urlsplit(url)
        if parts.hostname:
            hosts.add(parts.netloc.rpartition("@")[2])  # host:port
            hosts.add(parts.hostname)
    return hosts
