"""The GPU pool: every instance of every workload type, shared through Redis by all workers.

Keys (prefix ``c3render:gpu:``):
  ``inst:<id>``        hash: id, workload, provider, state, node (JSON: base_url, urls and
                       instance_id, public parts only), launched_at, expires_at, idle_since,
                       holder, lease_expiry, leased_at
  ``type:<workload>``  set of instance ids
  ``waiters:<workload>`` sorted set of acquirers waiting now (score: expiry, unix s)
  ``failed:<id>``      set for ``failed_cooldown`` s after an instance was given back broken

States: ``launching`` (a placeholder while the provider call runs, then the real instance
until its first health check passes), ``idle``,
``busy`` (leased: ``holder`` renews ``lease_expiry``), ``draining`` (being stopped).
Every state change is a Lua script, so two workers never take the same instance
and at most the allowed number of launches run at once.

No secret is stored: a record's node holds public URLs (no userinfo) and no headers; the
provider of the reading worker adds credentials from its own settings (``Provider.authorize``).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Callable

import redis

from render_core.config.settings import Settings
from render_core.net.http import public_url
from render_core.obs import metrics
from render_core.sdk.node import Node

from .demand import DemandStats
from .health import wait_healthy
from .providers.base import Instance, LaunchError, Provider
from .states import STATES
from .wait_policy import MIN_SAMPLES as HOLD_SAMPLES
from .wait_policy import expected_remaining, expected_wait

log = logging.getLogger(__name__)

#: The settings' defaults, the defaults of the policy.
_DEFAULTS = Settings()

PREFIX = "c3render:gpu:"
#: Id prefix of the placeholder that holds a launch slot while the provider call runs.
RESERVATION = "launch-"

#: Take the first idle instance of a type. KEYS[1] type set; ARGV prefix, holder, lease_expiry, now.
_TAKE_IDLE = """
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local key = ARGV[1] .. 'inst:' .. id
  if redis.call('HGET', key, 'state') == 'idle' then
    redis.call('HSET', key, 'state', 'busy', 'holder', ARGV[2], 'lease_expiry', ARGV[3], 'leased_at', ARGV[4])
    return id
  end
end
return false
"""

#: Reserve a launch when the policy allows it. KEYS[1] type set, KEYS[2] waiters zset;
#: ARGV prefix, reservation id, now, max instances, backlog per extra launch, workload, holder,
#: jobs still queued in the broker (added to the waiters as demand).
_RESERVE_LAUNCH = """
local total, launching = 0, 0
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local state = redis.call('HGET', ARGV[1] .. 'inst:' .. id, 'state')
  if state then
    total = total + 1
    if state == 'launching' then launching = launching + 1 end
  end
end
local waiters = redis.call('ZCOUNT', KEYS[2], ARGV[3], '+inf') + tonumber(ARGV[8])
if total >= tonumber(ARGV[4]) then return 0 end
if launching > 0 and (waiters - launching) < tonumber(ARGV[5]) then return 0 end
redis.call('HSET', ARGV[1] .. 'inst:' .. ARGV[2], 'id', ARGV[2], 'workload', ARGV[6], 'state', 'launching',
           'launched_at', ARGV[3], 'holder', ARGV[7], 'lease_expiry', ARGV[3] + 900)
redis.call('SADD', KEYS[1], ARGV[2])
return 1
"""

#: Move an instance between states. KEYS[1] instance key; ARGV from-states (JSON), to-state,
#: then field/value pairs. Returns 1 when moved.
_MOVE = """
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return 0 end
for _, s in ipairs(cjson.decode(ARGV[1])) do
  if s == state then
    redis.call('HSET', KEYS[1], 'state', ARGV[2])
    if #ARGV > 2 then redis.call('HSET', KEYS[1], unpack(ARGV, 3)) end
    return 1
  end
end
return 0
"""


class LeaseUnavailable(Exception):
    """No instance could be leased before the deadline (or launching failed)."""


@dataclass(frozen=True)
class PoolPolicy:
    """How the pool trades waiting against launching; times in seconds. Defaults are the
    settings' defaults (:meth:`from_settings` maps the variables).

    Parameters:
      lease_ttl: a lease not renewed for this long is reclaimed.
      pre_launch_wait: wait this long for a busy instance to free before launching.
      pre_launch_wait_max: the wait for a job with more than ``patient_slack`` s to spare.
      max_instances: instances per workload type, launching ones included.
      backlog_per_launch: demand (waiting acquirers + queued jobs) beyond the launches in flight
        that starts another launch in parallel.
      lifetime: instances are replaced after this long (provider ``expires`` = launch + lifetime).
      poll: seconds between looks at the pool while waiting.
      ready_timeout: how long a new instance may take to pass its first health check.
      ready_poll: seconds between those health checks.
      failed_cooldown: a node given back broken is handed out again only when no other is
        free, for this long.
      adaptive: learn from the workload's demand (render_core.gpu.demand): once hold times
        are known, wait for a busy node only while one is expected to free before a launch
        would be ready and the job's deadline allows it, else launch at once; the pre-launch
        wait applies until then (render_core.gpu.wait_policy).
      launch_estimate: seconds a launch is assumed to take until launches have been observed.
    """

    lease_ttl: float = _DEFAULTS.lease_ttl
    pre_launch_wait: float = _DEFAULTS.pre_launch_timeout
    pre_launch_wait_max: float = _DEFAULTS.pre_launch_timeout_max
    patient_slack: float = 600.0
    max_instances: int = _DEFAULTS.gpu_max_instances
    backlog_per_launch: int = _DEFAULTS.gpu_launch_backlog
    lifetime: float = _DEFAULTS.gpu_max_lifetime
    poll: float = 0.25
    ready_timeout: float = _DEFAULTS.gpu_ready_timeout
    ready_poll: float = _DEFAULTS.health_retry_delay
    failed_cooldown: float = 120.0
    adaptive: bool = False
    launch_estimate: float = 60.0

    @classmethod
    def from_settings(cls, s: Settings) -> "PoolPolicy":
        """The policy of LEASE_TTL, PRE_LAUNCH_TIMEOUT(_MAX), GPU_MAX_INSTANCES, GPU_LAUNCH_BACKLOG,
        GPU_MAX_LIFETIME, GPU_READY_TIMEOUT, HEALTH_RETRY_DELAY and GPU_IDLE_POLICY."""
        return cls(lease_ttl=s.lease_ttl, pre_launch_wait=s.pre_launch_timeout,
                   pre_launch_wait_max=s.pre_launch_timeout_max, max_instances=s.gpu_max_instances,
                   backlog_per_launch=s.gpu_launch_backlog, lifetime=s.gpu_max_lifetime,
                   ready_timeout=s.gpu_ready_timeout, ready_poll=s.health_retry_delay,
                   adaptive=s.gpu_idle_policy == "adaptive")


def _node_to_json(node: Node) -> str:
    """The public part of ``node``: its URLs without userinfo and its id; never its headers."""
    return json.dumps({"base_url": public_url(node.base_url), "instance_id": node.instance_id,
                       "urls": {name: public_url(url) for name, url in node.urls.items()}})


def _node_from_json(raw: str) -> Node:
    stored = json.loads(raw)
    return Node(base_url=stored.get("base_url", ""), urls=stored.get("urls") or {},
                instance_id=stored.get("instance_id", ""))


class GpuPool:
    """Acquire and release leases on instances of one provider."""

    def __init__(self, client: redis.Redis, provider: Provider, policy: PoolPolicy,
                 clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep):
        self.client = client
        self.provider = provider
        self.policy = policy
        self.clock = clock
        self.sleep = sleep
        self._take_idle = client.register_script(_TAKE_IDLE)
        self._reserve = client.register_script(_RESERVE_LAUNCH)
        self._move = client.register_script(_MOVE)
        self.demand = DemandStats(client)

    # -- reading -------------------------------------------------------------------------

    def instance(self, instance_id: str) -> dict | None:
        raw = self.client.hgetall(f"{PREFIX}inst:{instance_id}")
        return {k.decode(): v.decode() for k, v in raw.items()} or None

    def instances(self, workload: str | None = None) -> list[dict]:
        """Every instance record (of one workload type, or all)."""
        workloads = [workload] if workload else self.workloads()
        found = []
        for name in workloads:
            for raw_id in self.client.smembers(f"{PREFIX}type:{name}"):
                record = self.instance(raw_id.decode())
                if record is None:
                    self.client.srem(f"{PREFIX}type:{name}", raw_id)
                else:
                    found.append(record)
        return found

    def workloads(self) -> list[str]:
        return sorted(key.decode()[len(f"{PREFIX}type:"):] for key in self.client.scan_iter(f"{PREFIX}type:*"))

    def counts(self, workload: str) -> dict[str, int]:
        counts = dict.fromkeys(STATES, 0)
        for record in self.instances(workload):
            counts[record["state"]] = counts.get(record["state"], 0) + 1
        return counts

    def node_of(self, record: dict) -> Node:
        """How this worker reaches the instance of ``record``: the stored public node plus its credentials."""
        return self.provider.authorize(_node_from_json(record["node"]))

    # -- leasing -------------------------------------------------------------------------

    def acquire(self, workload: str, holder: str, deadline: float,
                queued: Callable[[], int] = lambda: 0) -> tuple[str, Node]:
        """Lease an instance of ``workload`` for ``holder`` before ``deadline`` (unix s).

        Takes an idle instance; else waits while a launch in flight covers the demand
        or (up to the pre-launch wait) while busy instances may free; else launches.
        ``queued()`` counts jobs still waiting in the broker for this workload: with the
        waiting acquirers it is the demand that may justify a parallel launch.
        Raises LeaseUnavailable at the deadline or when the launch failed.
        """
        waiters = f"{PREFIX}waiters:{workload}"
        busy_seen_at: float | None = None
        if self.policy.adaptive:
            self.demand.requested(workload, self.clock())
        slack = deadline - self.clock()
        patience = self.policy.pre_launch_wait_max if slack > self.policy.patient_slack else \
            self.policy.pre_launch_wait
        try:
            while True:
                now = self.clock()
                taken = self._take_idle(keys=[f"{PREFIX}type:{workload}"],
                                        args=[PREFIX, holder, now + self.policy.lease_ttl, now])
                if taken:
                    instance_id = taken.decode()
                    return instance_id, self.node_of(self.instance(instance_id))
                if now >= deadline:
                    raise LeaseUnavailable(f"no {workload} GPU node became free before the job's deadline")
                self.client.zadd(waiters, {holder: now + max(5.0, 10 * self.policy.poll)})
                counts = self.counts(workload)
                if counts["busy"] and not counts["launching"]:
                    busy_seen_at = busy_seen_at or now
                else:
                    busy_seen_at = None
                waiting_for_busy = busy_seen_at is not None and now - busy_seen_at < patience
                if self.policy.adaptive and counts["busy"]:
                    verdict = self._frees_before_a_launch(workload, now, deadline)
                    if verdict is not None:  # the history tells: wait for that node, or launch now
                        waiting_for_busy = verdict
                reservation = None if waiting_for_busy else self._reserve_launch(workload, holder, now, queued())
                if reservation:
                    return self._launch(workload, holder, reservation)
                self.sleep(self.policy.poll)
        finally:
            self.client.zrem(waiters, holder)

    def launch_estimate(self, workload: str) -> float:
        """Seconds a launch of ``workload`` takes: the mean of the recent ones, else the policy's guess."""
        launches = self.demand.series(workload, "launches")[:20]
        return sum(launches) / len(launches) if launches else self.policy.launch_estimate

    def _frees_before_a_launch(self, workload: str, now: float, deadline: float) -> bool | None:
        """True when a busy (or launching) node is expected to serve this waiter before a new
        launch could, and the job would still end before ``deadline`` (s, unix); False when
        none is; None when the history is too short to tell."""
        holds = self.demand.series(workload, "holds")
        launch = self.launch_estimate(workload)
        remaining: list[float | None] = []
        for record in self.instances(workload):
            if record["state"] == "busy" and record.get("leased_at"):
                remaining.append(expected_remaining(holds, now - float(record["leased_at"])))
            elif record["state"] == "launching":
                remaining.append(max(0.0, launch - (now - float(record.get("launched_at") or now))))
        rank = max(1, self.client.zcount(f"{PREFIX}waiters:{workload}", now, "+inf"))
        if len(holds) < HOLD_SAMPLES:
            return None
        wait = expected_wait(remaining, rank)
        typical_hold = sum(holds) / len(holds)
        return wait is not None and wait < launch and now + wait + typical_hold <= deadline

    def _reserve_launch(self, workload: str, holder: str, now: float, queued: int) -> str | None:
        reservation = f"{RESERVATION}{uuid.uuid4()}"
        allowed = self._reserve(keys=[f"{PREFIX}type:{workload}", f"{PREFIX}waiters:{workload}"],
                                args=[PREFIX, reservation, now, self.policy.max_instances,
                                      self.policy.backlog_per_launch, workload, holder, queued])
        return reservation if allowed else None

    def _launch(self, workload: str, holder: str, reservation: str) -> tuple[str, Node]:
        taken = {record["id"] for record in self.instances()}
        failed = self.recently_failed() - taken
        started = self.clock()
        expires_at = started + self.policy.lifetime
        try:
            try:  # a node given back broken is the last choice (static providers hand out in order)
                instance = self.provider.launch(workload, expires_at=expires_at, taken=taken | failed)
            except LaunchError:
                if not failed:
                    raise
                instance = self.provider.launch(workload, expires_at=expires_at, taken=taken)
        except LaunchError as exc:
            self._forget(reservation, workload)
            metrics.gpu_launch_failures.labels(workload).inc()
            raise LeaseUnavailable(f"could not launch a {workload} GPU node: {exc}") from exc
        except BaseException:
            self._forget(reservation, workload)
            raise
        metrics.gpu_launches.labels(workload).inc()
        self.add(instance, state="launching", holder=holder)  # covers the demand until it answers
        self._forget(reservation, workload)  # only now: the slot is never counted as free in between
        if not self._wait_ready(instance):
            self.stop(instance.id, reason="never became healthy after launch")
            metrics.gpu_launch_failures.labels(workload).inc()
            raise LeaseUnavailable(f"the launched {workload} GPU node never answered its health check "
                                   f"within {self.policy.ready_timeout:.0f} s")
        if not self._move_state(instance.id, ["launching"], "busy", holder=holder,
                                lease_expiry=self.clock() + self.policy.lease_ttl, leased_at=self.clock()):
            raise LeaseUnavailable(f"the launched {workload} GPU node was stopped while it started")
        self.demand.launched(workload, self.clock() - started)
        log.info("launched %s instance %s in %.1f s", workload, instance.id, self.clock() - started)
        return instance.id, instance.node

    def healthy(self, instance_id: str, tries: int = 1, retry_delay: float = 0.0) -> bool:
        """True when the provider's health check of the instance passes, trying ``tries`` times
        ``retry_delay`` s apart; False for an instance the pool no longer knows.

        A check that fails on this side (an error that is not a transport failure, e.g. an
        invalid auth header) says nothing about the node: it is logged and counts as healthy,
        so a worker's own misconfiguration never stops nodes.
        """
        record = self.instance(instance_id)
        if record is None:
            return False
        instance = Instance(id=instance_id, workload=record["workload"], node=self.node_of(record),
                            launched_at=float(record.get("launched_at") or 0))
        return wait_healthy(self.provider, instance, tries=tries, delay=retry_delay, sleep=self.sleep)

    def recently_failed(self) -> set[str]:
        """Ids of instances given back broken within the last ``failed_cooldown`` seconds."""
        prefix = f"{PREFIX}failed:"
        return {key.decode()[len(prefix):] for key in self.client.scan_iter(prefix + "*")}

    def _wait_ready(self, instance: Instance) -> bool:
        """Check the new instance's health every ``ready_poll`` s until it answers (``ready_timeout`` s).

        Gives up early when the instance left ``launching`` meanwhile (reconcile, teardown).
        """
        if self.provider.unlimited:
            return True

        def still_launching() -> bool:
            record = self.instance(instance.id)
            return record is not None and record["state"] == "launching"

        return wait_healthy(self.provider, instance, delay=self.policy.ready_poll, sleep=self.sleep,
                            clock=self.clock, give_up_at=self.clock() + self.policy.ready_timeout,
                            still_wanted=still_launching)

    def add(self, instance: Instance, *, state: str, holder: str = "") -> None:
        """Record ``instance`` in ``state`` (busy: leased by ``holder``)."""
        now = self.clock()
        key = f"{PREFIX}inst:{instance.id}"
        with self.client.pipeline() as pipe:
            pipe.hset(key, mapping={
                "id": instance.id, "workload": instance.workload, "provider": self.provider.name,
                "state": state, "node": _node_to_json(instance.node), "launched_at": instance.launched_at,
                "expires_at": instance.expires_at or "", "idle_since": now, "holder": holder,
                "lease_expiry": now + self.policy.lease_ttl if holder and state == "busy" else "",
            })
            pipe.sadd(f"{PREFIX}type:{instance.workload}", instance.id)
            pipe.execute()

    def renew(self, instance_id: str, holder: str) -> bool:
        """Extend ``holder``'s lease by ``lease_ttl``; False when it is no longer the holder."""
        record = self.instance(instance_id)
        if not record or record.get("holder") != holder or record["state"] not in ("busy", "draining"):
            return False
        self.client.hset(f"{PREFIX}inst:{instance_id}", "lease_expiry", self.clock() + self.policy.lease_ttl)
        return True

    def release(self, instance_id: str, holder: str, *, healthy: bool) -> None:
        """End ``holder``'s lease: healthy -> idle for the next job; unhealthy or draining -> stopped."""
        record = self.instance(instance_id)
        if not record or record.get("holder") != holder:
            return
        now = self.clock()
        held = now - float(record["leased_at"]) if record.get("leased_at") else None
        self.demand.released(record["workload"], now, held)
        if healthy and self._move_state(instance_id, ["busy"], "idle", holder="", lease_expiry="",
                                        idle_since=self.clock()):
            return
        if not healthy:
            self.client.set(f"{PREFIX}failed:{instance_id}", 1, ex=int(self.policy.failed_cooldown))
        self.stop(instance_id, reason="unhealthy after a job" if not healthy else "draining")

    def reclaim(self, instance_id: str) -> bool:
        """Take back a lease whose holder stopped renewing it: busy -> idle; True when reclaimed."""
        return self._move_state(instance_id, ["busy"], "idle", holder="", lease_expiry="", idle_since=self.clock())

    def drop_reservation(self, reservation_id: str, workload: str) -> None:
        """Forget a launch placeholder (id ``launch-...``) whose launcher never finished."""
        if not reservation_id.startswith(RESERVATION):
            raise ValueError(f"{reservation_id} is an instance, not a launch reservation: stop it instead")
        self._forget(reservation_id, workload)

    def _move_state(self, instance_id: str, from_states: list[str], to_state: str, **fields) -> bool:
        flat = [item for pair in fields.items() for item in pair]
        return bool(self._move(keys=[f"{PREFIX}inst:{instance_id}"], args=[json.dumps(from_states), to_state, *flat]))

    def drain(self, instance_id: str, from_states=("idle",)) -> bool:
        """Mark an instance draining (only from ``from_states``); True when marked."""
        return self._move_state(instance_id, list(from_states), "draining")

    def stop(self, instance_id: str, reason: str) -> None:
        """Stop the instance at the provider, account its GPU-seconds and forget it."""
        record = self.instance(instance_id)
        if record is None:
            return
        self._move_state(instance_id, list(STATES), "draining")
        try:
            self.provider.stop(instance_id)
        except Exception as exc:  # the reconcile pass retries instances the provider still runs
            log.warning("stopping %s failed (%s); reconcile will retry", instance_id, exc)
        launched = float(record.get("launched_at") or self.clock())
        metrics.gpu_billed_seconds.labels(record["workload"]).inc(max(0.0, self.clock() - launched))
        self._forget(instance_id, record["workload"])
        log.info("stopped %s instance %s: %s", record["workload"], instance_id, reason)

    def _forget(self, instance_id: str, workload: str) -> None:
        with self.client.pipeline() as pipe:
            pipe.delete(f"{PREFIX}inst:{instance_id}")
            pipe.srem(f"{PREFIX}type:{workload}", instance_id)
            pipe.execute()
