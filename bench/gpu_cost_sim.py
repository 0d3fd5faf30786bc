"""Pieces shared by both policies of the GPU cost simulation.

Simulated time is the fake Comput3's clock (``FakeComput3.now``, unix s running
``speed`` times faster than real time): launch delay and billing are measured on
it, the pool gets it as ``clock`` and :meth:`SimTime.sleep` as ``sleep``.
"""

from __future__ import annotations

import collections
import logging
import re
import statistics
import threading
import time
from dataclasses import dataclass, field

from render_core.sdk.context import Node
from render_core.gpu.providers.common import node_answers

from gpu_cost_trace import TraceJob

WORKLOAD = "media:fast"
CLOSED = object()  # JobFeed.take: no job will ever come again


class SimTime:
    """Simulated clock and sleep: ``speed`` simulated seconds pass per real second."""

    def __init__(self, fake, speed: float):
        self.fake = fake
        self.speed = speed

    def now(self) -> float:
        return self.fake.now()

    def sleep(self, seconds: float) -> None:
        """Sleep ``seconds`` simulated seconds."""
        if seconds > 0:
            time.sleep(seconds / self.speed)

    def real(self, seconds: float) -> float:
        """Real seconds that ``seconds`` simulated seconds take."""
        return seconds / self.speed


@dataclass
class Outcome:
    """One job's fate; times in simulated unix s."""

    job: TraceJob
    submitted: float
    leased: float | None = None
    finished: float | None = None
    error: str = ""

    @property
    def latency(self) -> float:
        return (self.finished or self.submitted) - self.submitted


class JobFeed:
    """The shared job queue. Jobs enter at their trace arrival time (a releaser thread).

    ``take(owns_gpu=..., owners_first=True)``: a worker without a GPU leaves the job
    to a worker that owns an idle GPU and is waiting (the original's "reuse first").
    """

    def __init__(self, sim: SimTime, trace: list[TraceJob]):
        self.sim = sim
        self.trace = trace
        self.outcomes: dict[str, Outcome] = {}
        self.late_release: list[float] = []  # simulated s each job entered after its arrival time
        self._jobs: collections.deque = collections.deque()
        self._cond = threading.Condition()
        self._closed = False
        self._waiting_owners = 0
        self._releaser = threading.Thread(target=self._release, name="job-releaser", daemon=True)

    def start(self) -> None:
        self.started = self.sim.now()
        self._releaser.start()

    def _release(self) -> None:
        for job in self.trace:
            due = self.started + job.arrival
            self.sim.sleep(due - self.sim.now())
            now = self.sim.now()
            self.late_release.append(now - due)
            with self._cond:
                self.outcomes[job.id] = Outcome(job, submitted=now)
                self._jobs.append(job)
                self._cond.notify_all()
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def take(self, timeout: float | None = None, *, owns_gpu: bool = False, owners_first: bool = False):
        """The next job; None after ``timeout`` simulated s; CLOSED when the trace is over and drained."""
        give_up = None if timeout is None else time.monotonic() + self.sim.real(timeout)
        with self._cond:
            if owns_gpu:
                self._waiting_owners += 1
            try:
                while True:
                    deferring = owners_first and not owns_gpu and self._waiting_owners > 0
                    if self._jobs and not deferring:
                        job = self._jobs.popleft()
                        self._cond.notify_all()
                        return job
                    if self._closed and not self._jobs:
                        return CLOSED
                    left = None if give_up is None else give_up - time.monotonic()
                    if left is not None and left <= 0:
                        return None
                    self._cond.wait(left)
            finally:
                if owns_gpu:
                    self._waiting_owners -= 1
                    self._cond.notify_all()

    def queued(self) -> int:
        """Jobs in the queue that no worker has taken yet (the service's broker queue length)."""
        with self._cond:
            return len(self._jobs)

    def leased(self, job: TraceJob) -> None:
        """The job got its GPU node now."""
        with self._cond:
            self.outcomes[job.id].leased = self.sim.now()

    def finish(self, job: TraceJob, error: str = "") -> None:
        with self._cond:
            outcome = self.outcomes[job.id]
            outcome.finished, outcome.error = self.sim.now(), error

    def join(self) -> None:
        self._releaser.join()


def run_on_node(sim: SimTime, node: Node, job: TraceJob, renew=None, renew_every: float = 10.0) -> str:
    """Hold the node for the job's duration (simulated s), calling ``renew()`` every ``renew_every`` s.

    Returns "" or an error: the node must answer its health check when the job starts and
    when it ends (a real job submits to the node and fetches its result from it).
    """
    if not node_answers(node.base_url, node.headers, timeout=5.0):
        return "the node did not answer when the job started"
    ends = sim.now() + job.duration
    while (left := ends - sim.now()) > 0:
        sim.sleep(min(left, renew_every))
        if renew is not None and ends - sim.now() > 0:
            renew()
    if not node_answers(node.base_url, node.headers, timeout=5.0):
        return "the node stopped answering during the job"
    return ""


def percentile(values: list[float], pct: float) -> float:
    """The ``pct`` percentile (inclusive method, linear between ranks); NaN for no values."""
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(pct) - 1]


@dataclass
class PolicyResult:
    """Figures of one policy run; seconds are simulated."""

    name: str
    jobs: int
    failed: int
    launches: int
    billed: float
    latencies: list[float]
    waits: list[float]
    peak_gpus: int
    left_running: int
    real_seconds: float
    cpu_seconds: float
    max_release_lag: float
    work: float = 0.0  # s the succeeded jobs held a GPU (their durations)
    notes: dict = field(default_factory=dict)
    failures: list[tuple[float, str, str]] = field(default_factory=list)  # (s since start, job id, error)

    @property
    def per_job(self) -> float:
        return self.billed / max(1, self.jobs)


class LogTally(logging.Handler):
    """Counts render_core log lines by message shape (numbers and ids blanked) and keeps
    every line it sees with its simulated time (s since :meth:`reset`) for timelines."""

    _ID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f-]{27,}\b|\b\d+(\.\d+)?\b|node-[0-9a-f]{8}")

    def __init__(self):
        super().__init__(logging.INFO)
        self.counts: collections.Counter = collections.Counter()
        self.events: list[tuple[float, str, str]] = []  # (simulated s, level, message)
        self._clock, self._started = time.time, time.time()

    def reset(self, clock) -> None:
        """Forget what was seen; time events on ``clock`` (simulated unix s) from now on."""
        self.counts.clear()
        self.events = []
        self._clock, self._started = clock, clock()

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if record.name.startswith("render_core"):
            self.counts[f"{record.levelname} {self._ID.sub('#', message)}"] += 1
        self.events.append((self._clock() - self._started, record.levelname, message))


class PeakGauge:
    """Samples the provider's running count every ``every`` simulated s; keeps the peak."""

    def __init__(self, sim: SimTime, fake, every: float = 1.0):
        self.sim, self.fake, self.every = sim, fake, every
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="peak-gauge", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(self.sim.real(self.every)):
            self.peak = max(self.peak, len(self.fake.running()))


def comput3_provider(fake, sim: SimTime):
    """The real Comput3Provider against ``fake``, on simulated time."""
    from render_core.gpu.providers.comput3 import Comput3Provider

    return Comput3Provider(fake.api_url, fake.api_key, node_url_template=fake.node_url_template,
                           ui_url_template=fake.ui_url_template, sleep=sim.sleep, clock=sim.now)


def stop_leftovers(fake, provider) -> int:
    """Stop whatever the fake still runs (a policy that left GPUs billing); returns how many."""
    left = fake.running()
    for item in left:
        provider.stop(item["workload"])
    return len(left)


def summarize(name: str, fake, feed: JobFeed, left_running: int, real_started: float, cpu_started: float,
              peak: PeakGauge, notes: dict) -> PolicyResult:
    """Collect one run's figures once every GPU is stopped."""
    outcomes = list(feed.outcomes.values())
    done = [o for o in outcomes if o.finished is not None and not o.error]
    errors = collections.Counter(o.error or "never finished" for o in outcomes if o not in done)
    if errors:
        notes = {**notes, "job errors": dict(errors)}
    return PolicyResult(
        name=name, jobs=len(outcomes), failed=len(outcomes) - len(done), launches=fake.launch_calls,
        billed=fake.billed_seconds(), latencies=[o.latency for o in done],
        waits=[o.leased - o.submitted for o in done if o.leased is not None], peak_gpus=peak.peak,
        left_running=left_running, real_seconds=time.monotonic() - real_started,
        cpu_seconds=time.process_time() - cpu_started, max_release_lag=max(feed.late_release, default=0.0),
        work=sum(o.job.duration for o in done), notes=notes, failures=sorted(((o.finished or o.submitted) - feed.started, o.job.id, o.error or "never finished")
                                     for o in outcomes if o not in done))
