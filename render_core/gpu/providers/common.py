"""Pieces shared by the providers: the address policy for their targets and the node health probe."""

from __future__ import annotations

import requests

from render_core.net.http import AddressPolicy, FetchError, Timeouts, session
from render_core.sdk.transport import is_transport_failure

#: Provider APIs and GPU nodes are chosen by the operator (C3_API_URL, C3_NODE_URL, STATIC_NODES)
#: or named by the provider the operator chose, never by an API client. Self-hosted nodes and
#: Kubernetes Services live on private networks and tests run on loopback, so both are
#: admitted; link-local and cloud-metadata addresses stay refused by render_core.net.http.
OPERATOR_TARGETS = AddressPolicy(allow_loopback=True, allow_private=True)


def node_answers(base_url: str, headers: dict, timeout: float) -> bool:
    """One health probe: True when ``GET <base_url>/`` answers 200.

    ``timeout`` (s) bounds the whole probe, wall clock; the body is not read.
    Transport failures (no connection, reset, timeout) and addresses the policy refuses
    count as "does not answer"; a probe that cannot even be built on this side (an invalid
    URL or header, e.g. a key ending in a newline) raises: it says nothing about the node.
    """
    if not base_url:
        return False
    try:
        with session(OPERATOR_TARGETS, Timeouts(connect=timeout, read=timeout, total=timeout)) as probe, \
                probe.get(base_url.rstrip("/") + "/", headers=headers, stream=True) as response:
            return response.status_code == 200
    except requests.RequestException as exc:
        if is_transport_failure(exc):
            return False
        raise
    except FetchError:
        return False
