"""A wall-clock deadline per transfer: a server trickling one byte at a time cannot stretch it.

Downloads, webhook POSTs and node calls each meet a local trickling server whose answer
takes 8 s to send with no read ever waiting more than 0.2 s. Without a transfer deadline
each of them would receive the whole answer (and the tests below would fail).
"""

from __future__ import annotations

import pytest
import requests

from render_core.net.http import (AddressPolicy, FetchError, Timeouts, TransferTimeout, deadline_passed, download,
                                  session)
from render_core.net.webhook_post import post_once
from support.trickle import TrickleServer

LOOPBACK = AddressPolicy(allow_loopback=True)
NODES = AddressPolicy(allow_loopback=True, allow_private=True)


def test_download_ends_at_its_deadline_not_at_the_last_byte(tmp_path):
    with TrickleServer(what="body", size=40, interval=0.2) as server:
        with pytest.raises(TransferTimeout, match=r"did not finish within 1\.5 s"):
            download(server.url + "/slow.bin", tmp_path / "slow", max_bytes=1000, policy=LOOPBACK,
                     timeouts=Timeouts(connect=1.0, read=1.0, total=1.5))
        [connection] = server.connections
        assert connection.ended.wait(5) and not connection.complete, "the whole body was read"
    assert not (tmp_path / "slow").exists()


def test_download_without_an_explicit_total_is_bounded_by_connect_plus_read(tmp_path):
    with TrickleServer(what="body", size=40, interval=0.2) as server:
        with pytest.raises(FetchError, match=r"did not finish within 2 s"):
            download(server.url + "/slow.bin", tmp_path / "slow", max_bytes=1000, policy=LOOPBACK,
                     timeouts=Timeouts(connect=1.0, read=1.0))
        assert not server.connections[0].complete


def test_webhook_with_a_timeout_ends_at_that_timeout():
    with TrickleServer(what="headers", interval=0.1) as server:
        error = post_once(server.url + "/hook", {"id": "j", "status": "success"}, webhook_id="j", secrets=(),
                          policy=LOOPBACK, timeout=1.0)
        assert error is not None and "did not finish within 1 s" in error, error
        assert server.connections[0].ended.wait(5) and not server.connections[0].complete


@pytest.mark.parametrize("what", ["body", "headers"])
def test_node_call_timeout_bounds_the_whole_call(what):
    """A node session call with timeout=(connect, read) ends within connect + read seconds."""
    with TrickleServer(what=what, size=40, interval=0.2) as server, \
            session(NODES, Timeouts(connect=10.0, read=60.0)) as node:
        with pytest.raises(requests.RequestException) as raised:
            node.get(server.url + "/gradio_api/info", timeout=(0.5, 1.0)).content
        assert deadline_passed(raised.value), repr(raised.value)
        assert not server.connections[0].complete


def test_a_deadline_spans_redirect_hops_and_a_fast_answer_is_untouched(tmp_path):
    with TrickleServer(what="body", size=5, interval=0.01) as server:
        result = download(server.url + "/quick.bin", tmp_path / "quick", max_bytes=100, policy=LOOPBACK,
                          timeouts=Timeouts(connect=1.0, read=1.0, total=5.0))
        assert result.size == 5 and (tmp_path / "quick").read_bytes() == b"xxxxx"
