"""Errors of the API client: the API answered with an error, or could not be reached."""

from __future__ import annotations


class ClientError(Exception):
    """Base of the client's errors; the message is readable by a person."""


class Unreachable(ClientError):
    """No HTTP answer: connection refused, DNS, timeout."""


class ApiError(ClientError):
    """The API answered an error status; ``body`` is its JSON error (title, description, errors)."""

    def __init__(self, status: int, body: dict):
        self.status = status
        self.body = body
        message = body.get("description") or body.get("title") or f"HTTP {status}"
        super().__init__(f"HTTP {status}: {message}")
