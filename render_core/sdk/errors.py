"""Exceptions that carry a job's outcome across the plugin boundary."""


class JobError(Exception):
    """Permanent failure: the job ends ``failed`` and the message is shown to the client."""


class NodeError(Exception):
    """The path to the GPU node failed (no connection, reset, timeout, 5xx, a failed health check):
    the node is stopped and the job retried on a fresh lease while attempts and time remain.

    Raise it only for such transport failures: what goes wrong on this side before or while a
    request is built is a JobError, and an error the node answers with is a NodeAppError.
    """


class NodeAppError(JobError):
    """The node answered, with an error (a Gradio app error, a failed render, a refusal) or with
    something unusable. The runner then health-checks the leased node: when it fails the check
    or its provider no longer lists it, this counts as a NodeError (stop the node, retry);
    when it is healthy, it is the job's error and the job ends ``failed`` with this message.
    """


class JobCancelled(Exception):
    """The job was cancelled (or marked timed out) by a client while it ran."""


class DeadlineExceeded(Exception):
    """The job ran past min(max_time, complete_by)."""


class WorkerStopping(Exception):
    """The worker is shutting down and the job's drain time is over: the job goes back to the
    queue (status ``queued``) and another worker runs it. Raised by ``ctx.check()``."""
