"""Exceptions that carry a job's outcome across the plugin boundary."""


class JobError(Exception):
    """Permanent failure: the job ends ``failed`` and the message is shown to the client."""


class NodeError(Exception):
    """The GPU node failed (connection lost, 5xx, died): retried on a fresh lease while time remains."""


class JobCancelled(Exception):
    """The job was cancelled (or marked timed out) by a client while it ran."""


class DeadlineExceeded(Exception):
    """The job ran past min(max_time, complete_by)."""


class WorkerStopping(Exception):
    """The worker is shutting down and the job's drain time is over: the job goes back to the
    queue (status ``queued``) and another worker runs it. Raised by ``ctx.check()``."""
