"""Job statuses and the transitions allowed between them, in one place."""

QUEUED = "queued"
RUNNING = "running"
SUCCESS = "success"
FAILED = "failed"
TIMED_OUT = "timed_out"
CANCELLED = "cancelled"
EXPIRED = "expired"

TERMINAL = frozenset({SUCCESS, FAILED, TIMED_OUT, CANCELLED, EXPIRED})
ALL = (QUEUED, RUNNING, SUCCESS, FAILED, TIMED_OUT, CANCELLED, EXPIRED)

#: Statuses a client may set through ``POST /job/{id}``.
CLIENT_SETTABLE = (TIMED_OUT, CANCELLED, FAILED)

#: new status -> statuses it may be entered from. A terminal status is never left.
#: running -> running is a redelivery after a worker died; running -> queued a retry
#: on a fresh GPU lease.
ALLOWED_FROM = {
    RUNNING: frozenset({QUEUED, RUNNING}),
    QUEUED: frozenset({RUNNING}),
    SUCCESS: frozenset({RUNNING}),
    FAILED: frozenset({QUEUED, RUNNING}),
    TIMED_OUT: frozenset({QUEUED, RUNNING}),
    CANCELLED: frozenset({QUEUED, RUNNING}),
    EXPIRED: frozenset({QUEUED, RUNNING}),
}


def can_move(current: str, new: str) -> bool:
    """Whether a job in ``current`` may move to ``new``."""
    return current in ALLOWED_FROM.get(new, ())
