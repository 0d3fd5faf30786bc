"""When waiting for a busy node beats launching one: the expected time until a node frees.

A launch takes ``launch`` s before its node serves; a busy node whose job is expected to end
sooner serves the waiting job sooner, and bills nothing extra. The expected remaining time of
a lease of age ``a`` is the mean of (h - a) over the observed hold times h longer than a.
"""

from __future__ import annotations

#: Hold samples needed before remaining times are estimated.
MIN_SAMPLES = 5


def expected_remaining(holds: list[float], age: float) -> float | None:
    """Expected seconds left of a lease held ``age`` s so far; None when the history cannot tell."""
    if len(holds) < MIN_SAMPLES:
        return None
    longer = [h - age for h in holds if h > age]
    if len(longer) < max(2, len(holds) // 20):  # older than nearly every lease seen: no estimate
        return None
    return sum(longer) / len(longer)


def expected_wait(remaining: list[float | None], rank: int) -> float | None:
    """Expected seconds until the ``rank``-th (1 = first) of the busy nodes frees; None if unknown."""
    known = sorted(r for r in remaining if r is not None)
    if rank < 1 or len(known) < rank:
        return None
    return known[rank - 1]
