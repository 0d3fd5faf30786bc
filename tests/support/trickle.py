"""A server that trickles its answer: one byte every ``interval`` seconds, so no single read times out.

``TrickleServer(what="body")`` answers a complete status line and headers at once, then a
body of ``size`` bytes one byte at a time; ``what="headers"`` trickles the status line and
headers themselves (about 100 bytes). Each connection stops by itself once its answer is
out (``bytes * interval`` seconds) or when the client goes away. Records per connection: bytes sent, whether the
whole answer went out, and the request's head.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field


@dataclass
class Trickled:
    """One connection: the request head received, bytes of the answer sent, whether all were sent."""

    request_head: bytes = b""
    sent: int = 0
    complete: bool = False
    ended: threading.Event = field(default_factory=threading.Event)


class TrickleServer:
    """Start with ``with TrickleServer() as server:``; ``server.url`` is ``http://127.0.0.1:<port>``."""

    def __init__(self, what: str = "body", size: int = 40, interval: float = 0.2, status: int = 200):
        if what not in ("body", "headers"):
            raise ValueError("what is 'body' or 'headers'")
        self.what, self.size, self.interval, self.status = what, size, interval, status
        self.connections: list[Trickled] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def __enter__(self) -> "TrickleServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stopping.set()
        self._listener.close()

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            record = Trickled()
            self.connections.append(record)
            threading.Thread(target=self._serve, args=(conn, record), daemon=True).start()

    def _answer(self) -> tuple[bytes, bytes]:
        """(sent at once, trickled)."""
        head = (f"HTTP/1.1 {self.status} OK\r\nContent-Type: application/octet-stream\r\n"
                f"Content-Length: {self.size if self.what == 'body' else 0}\r\nConnection: close\r\n\r\n").encode()
        if self.what == "body":
            return head, b"x" * self.size
        return b"", head

    def _serve(self, conn: socket.socket, record: Trickled) -> None:
        with conn:
            try:
                record.request_head = _read_request(conn)
                at_once, trickled = self._answer()
                conn.sendall(at_once)
                for index in range(len(trickled)):
                    if self._stopping.is_set():
                        return
                    conn.sendall(trickled[index:index + 1])
                    record.sent += 1
                    time.sleep(self.interval)
                record.complete = True
            except OSError:
                pass  # the client hung up, as a client with a deadline should
            finally:
                record.ended.set()


def _read_request(conn: socket.socket) -> bytes:
    """The request head and its Content-Length body (read and dropped)."""
    conn.settimeout(10)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return head
