"""A node session never carries the node's credentials to another origin on a redirect."""

from __future__ import annotations

import pytest

from render_core.net.http import AddressPolicy, Timeouts, session
from support.scripted_gradio import Recorder

NODES = AddressPolicy(allow_loopback=True, allow_private=True)
HEADERS = {"X-C3-API-KEY": "node-key", "Authorization": "Bearer node-key", "X-Custom-Token": "t0ken",
           "Cookie": "session=abc"}
CREDENTIALS = ("x-c3-api-key", "authorization", "x-custom-token", "cookie")


class Redirector(Recorder):
    """``/start`` answers a redirect to ``target`` (absolute, or a path on this server); every other
    path is recorded and answered 200."""

    def __init__(self, target: str, status: int = 302):
        super().__init__()
        owner, plain = self, self.httpd.RequestHandlerClass

        def route(handler):
            if handler.path != "/start":
                return plain._any(handler)
            handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
            owner.record(handler)
            handler.reply(status, b"", "text/plain", Location=target)

        self.httpd.RequestHandlerClass = type("RedirectHandler", (plain,), {"do_GET": route, "do_POST": route})


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_credentials_are_dropped_on_a_redirect_to_another_origin(status):
    with Recorder() as elsewhere, Redirector(elsewhere.url + "/landing", status) as node, \
            session(NODES, Timeouts(connect=2, read=5)) as guarded:
        guarded.headers.update(HEADERS)
        assert guarded.get(node.url + "/start").status_code == 200
        [seen] = elsewhere.requests
        assert node.requests[0]["headers"]["x-c3-api-key"] == "node-key"  # the node itself got them
    leaked = [name for name in CREDENTIALS if name in seen["headers"]]
    assert not leaked, seen["headers"]


def test_credentials_stay_on_a_redirect_within_the_same_origin():
    with Redirector("/landing") as node, session(NODES, Timeouts(connect=2, read=5)) as guarded:
        guarded.headers.update(HEADERS)
        assert guarded.get(node.url + "/start").status_code == 200
        assert [r["path"] for r in node.requests] == ["/start", "/landing"]
        assert node.requests[1]["headers"]["x-c3-api-key"] == "node-key"
