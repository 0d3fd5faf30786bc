"""When a job's webhook is attempted: the delays between attempts, in seconds.

The default keeps the original service's first five attempts 5 s apart, then
backs off exponentially (30 s doubling to one hour), so a receiver that is down
for a deploy, or for ten minutes, or for two hours, still gets its webhook:

    attempt   1    2    3    4    5    6    7     8     9     10     11     12     13
    at (s)    0    5   10   15   20   50  110   230   470    950   1910   3830   7430

``WEBHOOK_SCHEDULE`` (comma-separated seconds) replaces it; ``WEBHOOK_ATTEMPTS``
and ``WEBHOOK_INTERVAL``, when set, keep their original meaning (that many
attempts, that far apart).
"""

from __future__ import annotations

from dataclasses import dataclass

from render_core.config.settings import Settings

#: Seconds between attempt n and n + 1 (13 attempts over about 2 h 4 min).
DEFAULT_DELAYS = (5.0, 5.0, 5.0, 5.0, 30.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 3600.0)
#: The original service's spacing and count, used when only one of the two is set.
ORIGINAL_ATTEMPTS = 5
ORIGINAL_INTERVAL = 5.0


@dataclass(frozen=True)
class WebhookSchedule:
    """``delays[i]``: seconds from attempt i + 1 to attempt i + 2; ``len(delays) + 1`` attempts in all."""

    delays: tuple[float, ...] = DEFAULT_DELAYS

    @classmethod
    def from_settings(cls, settings: Settings) -> "WebhookSchedule":
        if settings.webhook_schedule:
            return cls(tuple(float(p) for p in settings.webhook_schedule.split(",") if p.strip()))
        if settings.webhook_attempts is not None or settings.webhook_interval is not None:
            attempts = settings.webhook_attempts if settings.webhook_attempts is not None else ORIGINAL_ATTEMPTS
            interval = settings.webhook_interval if settings.webhook_interval is not None else ORIGINAL_INTERVAL
            return cls((float(interval),) * (attempts - 1))
        return cls()

    @property
    def attempts(self) -> int:
        return len(self.delays) + 1

    def delay_after(self, attempt: int) -> float | None:
        """Seconds from attempt ``attempt`` (1-based) to the next one, or None when it was the last."""
        return self.delays[attempt - 1] if 1 <= attempt <= len(self.delays) else None

    def offsets(self) -> list[float]:
        """Seconds from the first attempt to each attempt (the first is 0)."""
        at, out = 0.0, [0.0]
        for delay in self.delays:
            at += delay
            out.append(at)
        return out

    def finest(self) -> float:
        """The shortest delay (s), or 1 s when there is a single attempt."""
        return min(self.delays, default=1.0)
