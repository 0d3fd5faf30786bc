"""GPU-lease middleware: gives each job the node it runs on, and takes it back after.

For now every task runs on the local node (the worker's own engines); leasing
GPU instances from a shared pool plugs in here.
"""

from __future__ import annotations

import threading

from dramatiq import Middleware

from ..context import Node

RUN_JOB = "run_job"


class GpuLease(Middleware):
    """Holds the current job's node per worker thread (``current_node()``)."""

    def __init__(self):
        self._local = threading.local()

    def current_node(self) -> Node:
        return getattr(self._local, "node", None) or Node.local_machine()

    def before_process_message(self, broker, message):
        if message.actor_name == RUN_JOB:
            self._local.node = Node.local_machine()

    def after_process_message(self, broker, message, *, result=None, exception=None):
        self._local.node = None

    after_skip_message = after_process_message
