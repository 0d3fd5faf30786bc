"""Policy B of the GPU cost simulation: the original service, one GPU per worker.

Each worker takes jobs in turn from the shared queue and owns at most one GPU.
Without one it sleeps a random ``pre_launch`` s (15-30 s, the original's guard
against simultaneous launches), launches through the same Comput3Provider, and
polls the node's health every ``ready_poll`` s until it answers. It checks its
GPU's health before reusing it, keeps it until it has been idle ``idle_timeout``
s, then stops it. ``owners_first``: a worker with an idle GPU gets a waiting job
before a worker without one (the original "reuses existing GPU instances
first"); this favours B. Idle GPUs stop exactly at ``idle_timeout`` (the
original's monitor thread looked every 15 s), which also favours B.
All times in simulated seconds.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass

from render_core.gpu.providers.base import Instance

from gpu_cost_sim import (CLOSED, WORKLOAD, JobFeed, PeakGauge, PolicyResult, SimTime, comput3_provider,
                          run_on_node, stop_leftovers, summarize)
from gpu_cost_trace import TraceJob


@dataclass(frozen=True)
class OriginalPolicy:
    """The original worker's GPU handling; seconds (simulated)."""

    idle_timeout: float = 300.0
    pre_launch: tuple[float, float] = (15.0, 30.0)
    ready_poll: float = 2.0
    ready_timeout: float = 600.0
    lifetime: float = 7200.0
    owners_first: bool = True


def run_original_policy(name: str, fake, trace: list[TraceJob], *, speed: float, workers: int,
                        policy: OriginalPolicy, seed: int) -> PolicyResult:
    """Play ``trace`` through ``workers`` one-GPU workers; returns the figures."""
    real_started, cpu_started = time.monotonic(), time.process_time()
    sim = SimTime(fake, speed)
    provider = comput3_provider(fake, sim)
    feed = JobFeed(sim, trace)
    peak = PeakGauge(sim, fake)
    peak.start()
    feed.start()
    workers_ = [_OneGpuWorker(feed, provider, sim, policy, random.Random(f"{seed}:{index}"))
                for index in range(workers)]
    threads = [threading.Thread(target=worker.run, name=f"one-gpu-worker-{index}", daemon=True)
               for index, worker in enumerate(workers_)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    peak.stop()
    left = stop_leftovers(fake, provider)
    return summarize(name, fake, feed, left, real_started, cpu_started, peak,
                     {"GPUs dropped as unhealthy before reuse": sum(w.dropped for w in workers_)})


class _OneGpuWorker:
    def __init__(self, feed: JobFeed, provider, sim: SimTime, policy: OriginalPolicy, rng: random.Random):
        self.feed, self.provider, self.sim, self.policy, self.rng = feed, provider, sim, policy, rng
        self.gpu: Instance | None = None
        self.idle_since = 0.0
        self.dropped = 0

    def run(self) -> None:
        while True:
            if self.gpu is not None:
                left = self.idle_since + self.policy.idle_timeout - self.sim.now()
                if left <= 0:
                    self._stop_gpu()
                    continue
                job = self.feed.take(left, owns_gpu=True, owners_first=self.policy.owners_first)
                if job is None:
                    continue
            else:
                job = self.feed.take(owners_first=self.policy.owners_first)
            if job is CLOSED:
                if self.gpu is not None:  # the original keeps it until it has idled out
                    self.sim.sleep(self.idle_since + self.policy.idle_timeout - self.sim.now())
                    self._stop_gpu()
                return
            self._process(job)

    def _process(self, job: TraceJob) -> None:
        if self.gpu is not None and not self._healthy(self.gpu):
            self.dropped += 1
            self._stop_gpu()
        if self.gpu is None:
            self.sim.sleep(self.rng.uniform(*self.policy.pre_launch))
            self.gpu = self._launch()
            if self.gpu is None:
                self.feed.finish(job, error="the launched node never answered its health check")
                return
        self.feed.leased(job)
        error = run_on_node(self.sim, self.gpu.node, job)
        if error:
            self._stop_gpu()
        self.idle_since = self.sim.now()
        self.feed.finish(job, error)

    def _launch(self) -> Instance | None:
        instance = self.provider.launch(WORKLOAD, expires_at=self.sim.now() + self.policy.lifetime)
        give_up = self.sim.now() + self.policy.ready_timeout
        while self.sim.now() < give_up:
            if self._healthy(instance):
                return instance
            self.sim.sleep(self.policy.ready_poll)
        self.provider.stop(instance.id)
        return None

    def _healthy(self, instance: Instance) -> bool:
        try:
            return self.provider.health(instance)
        except Exception:
            return False

    def _stop_gpu(self) -> None:
        if self.gpu is not None:
            self.provider.stop(self.gpu.id)
            self.gpu = None
