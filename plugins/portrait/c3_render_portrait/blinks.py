"""When the portrait blinks: a fixed, natural-looking schedule of eyelid closures."""

from __future__ import annotations

import numpy as np

#: Seconds between blinks are drawn uniformly from this range.
BLINK_INTERVAL_SECONDS = (2.5, 5.5)
#: Seconds for the lid to close, and to reopen.
CLOSING_SECONDS = 0.08
OPENING_SECONDS = 0.14


def blink_schedule(frame_count: int, fps: int, seed: int = 7) -> np.ndarray:
    """Eyelid closure per frame (0 = open, 1 = shut); same seed, same schedule."""
    rng = np.random.default_rng(seed)
    closure = np.zeros(frame_count, dtype=np.float32)
    start = rng.uniform(1.0, 2.5)
    while start * fps < frame_count:
        first = int(np.ceil(start * fps))
        last = min(frame_count, int((start + CLOSING_SECONDS + OPENING_SECONDS) * fps) + 1)
        since = np.arange(first, last, dtype=np.float64) / fps - start
        closing = np.clip(since / CLOSING_SECONDS, 0.0, 1.0)
        reopening = np.clip(1.0 - (since - CLOSING_SECONDS) / OPENING_SECONDS, 0.0, 1.0)
        closure[first:last] = np.minimum(closing, reopening)
        start += rng.uniform(*BLINK_INTERVAL_SECONDS)
    return closure
