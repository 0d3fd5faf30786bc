"""Refusals reach clients (a notify_url's error in GET /status): they name no resolved address.

Otherwise a client could probe internal DNS names: submit notify_url=http://db.internal/ and
read back which address it resolves to. The log keeps the address.
"""

from __future__ import annotations

import socket

from render_core.net.http import AddressPolicy
from render_core.net.webhook_post import post_once


def test_a_notify_url_resolving_to_an_internal_address_is_refused_without_naming_it(monkeypatch, caplog):
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host == "db.internal.example":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.9.8.7", port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    error = post_once("http://db.internal.example:6379/hook", {"id": "j"}, webhook_id="j", secrets=(),
                      policy=AddressPolicy(), timeout=2.0)

    assert error is not None and "db.internal.example" in error
    assert "10.9.8.7" not in error and "private" not in error, error
    assert "10.9.8.7" in caplog.text
