"""The pool monitor: one leader among all worker processes keeps the pool honest.

Every ``interval`` seconds the leader health-checks every instance (``tries``
attempts ``retry_delay`` s apart), stops instances idle longer than their idle
limit or past their lifetime, reclaims leases whose holder stopped
renewing, and reconciles the pool with the provider's own list: an instance the
provider runs but the pool does not know is adopted (or stopped), never left
billing. The idle limit of the ``warm_instances`` most recently used idle instances of a
type is, with ``adaptive``, the break-even limit fitted to the type's observed gaps
between jobs (render_core.gpu.idle_policy), at most ``idle_timeout`` (GPU_IDLE_TIMEOUT);
without, ``idle_timeout`` itself. Other idle instances get at most ``surplus_idle_timeout``.
Leadership is a Redis key with an expiry that the leader renews; when
the leader dies another process takes over within ``3 * interval`` seconds.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from typing import Callable

import redis

from render_core.config.settings import Settings
from render_core.obs import metrics

from .health import wait_healthy
from .idle_policy import RECENT_GAPS, break_even_idle_timeout
from .pool import PREFIX, RESERVATION, GpuPool
from .providers.base import Instance
from .states import STATES

log = logging.getLogger(__name__)

LEADER_KEY = PREFIX + "monitor-leader"
#: The settings' defaults, the defaults of the policy.
_DEFAULTS = Settings()

#: Renew the leader key only if we still hold it. KEYS[1] key; ARGV holder, ttl ms.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""


@dataclass(frozen=True)
class MonitorPolicy:
    """Times in seconds; ``reconcile_every``: passes between reconciles (the first pass always does);
    ``young_grace``: a new instance the provider does not list yet is not forgotten before this age;
    ``warm_instances`` idle instances per workload are kept for ``idle_timeout``, the others only
    for ``surplus_idle_timeout``; ``adaptive``: the warm limit is learned, ``idle_timeout`` its ceiling
    (off unless set: :meth:`from_settings` sets it from GPU_IDLE_POLICY). Other defaults are the
    settings' defaults."""

    interval: float = _DEFAULTS.monitor_interval
    idle_timeout: float = _DEFAULTS.gpu_idle_timeout
    lifetime: float = _DEFAULTS.gpu_max_lifetime
    refresh_margin: float = _DEFAULTS.gpu_refresh_margin
    tries: int = _DEFAULTS.health_tries
    retry_delay: float = _DEFAULTS.health_retry_delay
    launch_stale_after: float = 900.0
    reconcile_every: int = 4
    young_grace: float = 120.0
    warm_instances: int = _DEFAULTS.gpu_warm_instances
    surplus_idle_timeout: float = _DEFAULTS.gpu_surplus_idle_timeout
    adaptive: bool = False

    @classmethod
    def from_settings(cls, s: Settings) -> "MonitorPolicy":
        """The policy of MONITOR_INTERVAL, GPU_IDLE_TIMEOUT, GPU_MAX_LIFETIME, GPU_REFRESH_MARGIN,
        HEALTH_TRIES, HEALTH_RETRY_DELAY, GPU_WARM_INSTANCES, GPU_SURPLUS_IDLE_TIMEOUT and GPU_IDLE_POLICY."""
        return cls(interval=s.monitor_interval, idle_timeout=s.gpu_idle_timeout, lifetime=s.gpu_max_lifetime,
                   refresh_margin=s.gpu_refresh_margin, tries=s.health_tries, retry_delay=s.health_retry_delay,
                   warm_instances=s.gpu_warm_instances, surplus_idle_timeout=s.gpu_surplus_idle_timeout,
                   adaptive=s.gpu_idle_policy == "adaptive")


class Monitor:
    """Runs :meth:`run_once` every ``interval`` s in a daemon thread while this process leads."""

    def __init__(self, client: redis.Redis, pool: GpuPool, policy: MonitorPolicy, workloads=(),
                 sleep: Callable[[float], None] = time.sleep):
        """``sleep(seconds)`` waits between health tries (tests pass a recorder)."""
        self.client = client
        self.sleep = sleep
        self.workloads = set(workloads)
        self.pool = pool
        self.policy = policy
        self.identity = f"{socket.gethostname()}:{os.getpid()}:{id(self)}"
        self._renew = client.register_script(_RENEW)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="c3-gpu-monitor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self.is_leader():
            self.client.delete(LEADER_KEY)

    def is_leader(self) -> bool:
        value = self.client.get(LEADER_KEY)
        return value is not None and value.decode() == self.identity

    def try_lead(self) -> bool:
        """Become (or stay) the leader; True while this process leads."""
        ttl_ms = int(self.policy.interval * 3 * 1000)
        if self._renew(keys=[LEADER_KEY], args=[self.identity, ttl_ms]):
            return True
        return bool(self.client.set(LEADER_KEY, self.identity, nx=True, px=ttl_ms))

    def _loop(self) -> None:
        passes = 0
        while not self._stop.is_set():
            try:
                if self.try_lead():
                    self.run_once(reconcile=passes % self.policy.reconcile_every == 0)
                    passes += 1
                else:
                    passes = 0
            except redis.RedisError as exc:
                log.warning("GPU monitor: Redis unavailable: %s", exc)
            except Exception:
                log.exception("GPU monitor pass failed")
            self._stop.wait(self.policy.interval)

    def run_once(self, *, reconcile: bool = True) -> None:
        """One pass: reclaim leases, drop stale launches, health, idle and lifetime, reconcile, gauges."""
        now = self.pool.clock()
        records = self.pool.instances()
        warm = self._warm_ids(records)
        limits = {workload: self.idle_limit(workload) for workload in {r["workload"] for r in records}}
        for record in records:
            self._check(record, now, warm, limits.get(record["workload"]))
        if reconcile:
            self.reconcile()
        self.publish_gauges()

    def idle_limit(self, workload: str) -> float:
        """Seconds the warm idle instances of ``workload`` are kept (see the module doc)."""
        if not self.policy.adaptive:
            return self.policy.idle_timeout
        gaps = self.pool.demand.series(workload, "gaps")[:RECENT_GAPS]
        return break_even_idle_timeout(gaps, self.pool.launch_estimate(workload), floor=self.policy.interval,
                                       ceiling=self.policy.idle_timeout)

    def _warm_ids(self, records: list[dict]) -> set[str]:
        """Per workload, the ``warm_instances`` most recently used idle instances (kept for idle_timeout)."""
        warm: set[str] = set()
        by_workload: dict[str, list[dict]] = {}
        for record in records:
            if record["state"] == "idle":
                by_workload.setdefault(record["workload"], []).append(record)
        for idle in by_workload.values():
            idle.sort(key=lambda r: float(r.get("idle_since") or 0), reverse=True)
            warm.update(r["id"] for r in idle[:self.policy.warm_instances])
        return warm

    def _check(self, record: dict, now: float, warm: set[str] = frozenset(), warm_limit: float | None = None) -> None:
        instance_id, state = record["id"], record["state"]
        if state == "launching":
            if now - float(record.get("launched_at") or now) > self.policy.launch_stale_after:
                if instance_id.startswith(RESERVATION):
                    self.pool.drop_reservation(instance_id, record["workload"])
                else:
                    self.pool.stop(instance_id, reason="its launcher never finished starting it")
            return
        if state == "draining":
            if not record.get("holder") or _expired(record, now):
                self.pool.stop(instance_id, reason="drained")
            return
        if state == "busy" and _expired(record, now):
            log.warning("reclaiming the lease on %s: holder %s stopped renewing", instance_id, record.get("holder"))
            self.pool.reclaim(instance_id)
            state, record = "idle", {**record, "idle_since": now}
        if not self._healthy(instance_id):
            if state == "idle" and self.pool.drain(instance_id):
                self.pool.stop(instance_id, reason="failed its health checks")
            elif state == "busy":
                self.pool.drain(instance_id, from_states=("busy",))
            return
        if state == "idle":
            idle_for = now - float(record.get("idle_since") or now)
            warm_limit = self.policy.idle_timeout if warm_limit is None else warm_limit
            limit = warm_limit if instance_id in warm else min(warm_limit, self.policy.surplus_idle_timeout)
            if idle_for > limit and self.pool.drain(instance_id):
                self.pool.stop(instance_id, reason=f"idle for {idle_for:.0f} s")
            elif self._too_old(record, now) and self.pool.drain(instance_id):
                self.pool.stop(instance_id, reason="reached its lifetime")
        elif state == "busy" and self._too_old(record, now):
            self.pool.drain(instance_id, from_states=("busy",))

    def _too_old(self, record: dict, now: float) -> bool:
        launched = float(record.get("launched_at") or now)
        expires = float(record["expires_at"]) if record.get("expires_at") else launched + self.policy.lifetime
        return now >= min(launched + self.policy.lifetime, expires - self.policy.refresh_margin)

    def _healthy(self, instance_id: str) -> bool:
        """``tries`` health checks ``retry_delay`` s apart; False when the instance is gone from the pool."""
        record = self.pool.instance(instance_id)
        if record is None:
            return False
        instance = Instance(id=instance_id, workload=record["workload"], node=self.pool.node_of(record),
                            launched_at=float(record.get("launched_at") or 0))
        return wait_healthy(self.pool.provider, instance, tries=self.policy.tries, delay=self.policy.retry_delay,
                            sleep=self.sleep)

    def reconcile(self) -> None:
        """Adopt or stop instances the provider runs that the pool does not know; forget vanished ones."""
        provider = self.pool.provider
        if provider.unlimited:
            return
        running = {instance.id: instance for instance in provider.list_running()}
        known = {record["id"]: record for record in self.pool.instances()}
        now = self.pool.clock()
        adopt = not provider.always_running
        for instance_id, instance in running.items():
            if instance_id in known or not adopt or now - instance.launched_at < self.policy.young_grace:
                continue  # young ones may be between their launch call and the pool record
            if instance.node.base_url:
                log.warning("adopting untracked %s instance %s", instance.workload, instance_id)
                self.pool.add(instance, state="idle")
            else:
                log.warning("stopping untracked instance %s (no node address)", instance_id)
                provider.stop(instance_id)
        for instance_id, record in known.items():
            young = now - float(record.get("launched_at") or now) < self.policy.young_grace
            if record["state"] != "launching" and not young and instance_id not in running:
                log.warning("instance %s is gone at the provider; forgetting it", instance_id)
                self.pool.stop(instance_id, reason="gone at the provider")

    def publish_gauges(self) -> None:
        """Instances by workload and state, zeros included for every workload seen."""
        self.workloads.update(self.pool.workloads())
        for workload in sorted(self.workloads):
            counts = self.pool.counts(workload)
            for state in STATES:
                metrics.gpu_instances.labels(workload, state).set(counts.get(state, 0))


def _expired(record: dict, now: float) -> bool:
    expiry = record.get("lease_expiry")
    return bool(expiry) and float(expiry) < now
