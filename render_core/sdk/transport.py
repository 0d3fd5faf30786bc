"""Telling a failure of the path to a server from a mistake on this side (for node clients).

Only transport failures of a GPU node (no connection, a reset or broken connection, a
timeout, a transfer deadline, a TLS failure, a body that broke off) are a NodeError; what
goes wrong before or while a request is built (an invalid URL or header, a body that cannot
be encoded) is this side's, and an answer the node gives is the node's app speaking.
"""

from __future__ import annotations

import requests

_TRANSPORT = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError,
              requests.exceptions.ContentDecodingError, ConnectionError, TimeoutError)


def is_transport_failure(exc: BaseException) -> bool:
    """True when ``exc`` is a failure of the path to the server (see the module docstring)."""
    return isinstance(exc, _TRANSPORT)
