"""Asking a provider whether an instance answers, again until it does or the caller gives up.

One loop for both users: the pool waiting for a new instance's first healthy answer
(bounded by time), and the monitor's periodic check (bounded by a number of tries).
"""

from __future__ import annotations

import logging
from typing import Callable

from render_core.sdk.transport import is_transport_failure

from .providers.base import Instance, Provider

log = logging.getLogger(__name__)


def wait_healthy(provider: Provider, instance: Instance, *, delay: float, sleep: Callable[[float], None],
                 tries: int | None = None, give_up_at: float | None = None,
                 clock: Callable[[], float] | None = None,
                 still_wanted: Callable[[], bool] = lambda: True) -> bool:
    """True as soon as ``provider.health(instance)`` says so; False when the caller's limit is reached.

    Between checks it waits ``delay`` s through ``sleep``. It gives up after ``tries`` checks,
    or once ``clock()`` reaches ``give_up_at`` (unix s) after a check, or before a check when
    ``still_wanted()`` turns False (the instance was stopped meanwhile). A health check that
    raises a transport failure counts as a failed check; one that raises anything else could
    not be made on this side (e.g. an invalid auth header): it says nothing about the node, is
    logged as an error and counts as passed, so a worker's own mistake never stops nodes.
    """
    if give_up_at is not None and clock is None:
        raise ValueError("give_up_at needs a clock")
    attempt = 0
    while (tries is None or attempt < tries) and still_wanted():
        attempt += 1
        try:
            if provider.health(instance):
                return True
        except Exception as exc:
            if not is_transport_failure(exc):
                log.error("the health check of %s could not be made (%s: %s); not judging the node",
                          instance.id, type(exc).__name__, exc)
                return True
            log.debug("health check %d of %s failed: %s", attempt, instance.id, exc)
        if (tries is not None and attempt >= tries) or (give_up_at is not None and clock() >= give_up_at):
            return False
        sleep(delay)
    return False
