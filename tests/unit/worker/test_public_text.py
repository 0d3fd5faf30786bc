"""Errors shown to clients name no node URL, host, userinfo or connection internals."""

from render_core.sdk.node import Node
from render_core.worker.public_text import public_text

NODE = Node(base_url="http://operator:s3cret@10.1.2.3:8000", instance_id="static-0123456789abcdef",
            urls={"csm": "http://operator:s3cret@10.1.2.3:8000/csm/", "ui": "http://10.1.2.4:8188"})


def test_a_requests_error_text_loses_every_trace_of_the_node():
    raw = ("node static-0123456789abcdef stopped answering: HTTPConnectionPool(host='10.1.2.3', port=8000): "
           "Max retries exceeded with url: /csm/config (Caused by NewConnectionError("
           "'<urllib3.connection.HTTPConnection object at 0x7f3a2c1d0e50>: Failed to establish a new connection: "
           "[Errno 111] Connection refused'))")
    shown = public_text(raw, NODE)
    for secret in ("10.1.2.3", "8000", "s3cret", "operator", "0x7f3a"):
        assert secret not in shown, shown
    assert "static-0123456789abcdef" in shown and "Connection refused" in shown


def test_node_urls_and_userinfo_are_replaced():
    shown = public_text("GET http://operator:s3cret@10.1.2.3:8000/csm/config failed; ComfyUI at "
                        "http://10.1.2.4:8188 too; see https://user:pw@example.com/x", NODE)
    assert shown == ("GET the GPU node/config failed; ComfyUI at the GPU node too; "
                     "see https://example.com/x")


def test_text_without_node_details_is_unchanged():
    message = "download of https://example.com/a.png failed: HTTP 404"
    assert public_text(message, NODE) == message
    assert public_text(None, NODE) is None and public_text("", Node.local_machine()) == ""
