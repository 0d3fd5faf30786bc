"""Seeded job traces for the GPU cost simulation (bursty; steady Poisson with a daily cycle); times in simulated s.

Bursts of ``burst_size`` jobs whose arrivals are ``burst_spacing`` s apart (uniform),
separated by quiet gaps of ``gap`` s (uniform, measured from the burst's last arrival);
each job needs the GPU for ``duration`` s (uniform). The same seed gives the same trace.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass


@dataclass(frozen=True)
class TraceJob:
    """One job: ``arrival`` s after the trace starts, holding a GPU for ``duration`` s."""

    id: str
    arrival: float
    duration: float
    burst: int


@dataclass(frozen=True)
class TraceShape:
    """Ranges (low, high) of the trace; seconds unless said otherwise."""

    span: float = 5400.0
    burst_size: tuple[int, int] = (5, 15)
    burst_spacing: tuple[float, float] = (0.0, 8.0)
    gap: tuple[float, float] = (120.0, 900.0)
    duration: tuple[float, float] = (20.0, 120.0)


def bursty_trace(seed: int, shape: TraceShape = TraceShape()) -> list[TraceJob]:
    """Jobs of bursts starting at 0 s until a burst would start after ``shape.span`` s."""
    rng = random.Random(seed)
    jobs: list[TraceJob] = []
    burst_start, burst = 0.0, 0
    while burst_start <= shape.span:
        arrival = burst_start
        for _ in range(rng.randint(*shape.burst_size)):
            jobs.append(TraceJob(id=f"job-{len(jobs):03d}", arrival=round(arrival, 3),
                                 duration=round(rng.uniform(*shape.duration), 3), burst=burst))
            arrival += rng.uniform(*shape.burst_spacing)
        burst += 1
        burst_start = jobs[-1].arrival + rng.uniform(*shape.gap)
    return jobs


def describe(jobs: list[TraceJob]) -> str:
    """One line: jobs, bursts, span and GPU work (s) of the trace."""
    bursts = len({job.burst for job in jobs})
    work = sum(job.duration for job in jobs)
    span = jobs[-1].arrival if jobs else 0.0
    return (f"{len(jobs)} jobs in {bursts} bursts over {span:.0f} s (last arrival); "
            f"GPU work {work:.0f} s, mean job {work / max(1, len(jobs)):.1f} s")


@dataclass(frozen=True)
class DailyShape:
    """A steady Poisson stream whose rate follows a daily cycle compressed into ``span`` s.

    rate(t) = ``mean_rate`` * (1 - ``swing`` * cos(2 pi t / span)): quiet at the start and the
    end (night), busiest in the middle (day); jobs per second.
    """

    span: float = 5400.0
    mean_rate: float = 1 / 75
    swing: float = 0.8
    duration: tuple[float, float] = (20.0, 120.0)


def daily_poisson_trace(seed: int, shape: DailyShape = DailyShape()) -> list[TraceJob]:
    """Arrivals of a non-homogeneous Poisson process (thinning); ``burst`` is the hour of the day."""
    rng = random.Random(seed)
    peak = shape.mean_rate * (1 + shape.swing)
    jobs: list[TraceJob] = []
    t = 0.0
    while True:
        t += rng.expovariate(peak)
        if t > shape.span:
            return jobs
        rate = shape.mean_rate * (1 - shape.swing * math.cos(2 * math.pi * t / shape.span))
        if rng.random() <= rate / peak:
            jobs.append(TraceJob(id=f"job-{len(jobs):03d}", arrival=round(t, 3),
                                 duration=round(rng.uniform(*shape.duration), 3),
                                 burst=int(24 * t / shape.span)))


TRACES = {"bursty": lambda seed, span: bursty_trace(seed, TraceShape(span=span)),
          "daily": lambda seed, span: daily_poisson_trace(seed, DailyShape(span=span))}
