"""A bench-only GpuPool variant: a new instance stays ``launching`` until it first answers.

Measures a proposed fix; render_core is not changed. The shipped pool records a new
instance as ``busy`` (lease_ttl lease, not renewed) as soon as the provider accepted
the launch, so during a 60 s start-up the monitor health-checks it, drains it, and
stops it once the lease expires. Here the instance is recorded under its provider id
in state ``launching`` (the monitor skips those, reconcile knows the id, and waiting
acquirers count it as a launch in flight) and becomes ``busy`` for the launcher, with
a fresh lease, only after its first health check passes. The wait for readiness ends
early when the instance record disappears (stopped by someone else).
"""

from __future__ import annotations

from render_core import metrics
from render_core.context import Node
from render_core.gpu.pool import GpuPool, LeaseUnavailable
from render_core.providers.base import Instance, LaunchError


class LaunchAwarePool(GpuPool):
    """GpuPool whose launches stay visible as ``launching`` until the node is up."""

    def _launch(self, workload: str, holder: str, reservation: str) -> tuple[str, Node]:
        taken = {record["id"] for record in self.instances()}
        try:
            instance = self.provider.launch(workload, expires_at=self.clock() + self.policy.lifetime, taken=taken)
        except LaunchError as exc:
            self._forget(reservation, workload)
            metrics.gpu_launch_failures.labels(workload).inc()
            raise LeaseUnavailable(f"could not launch a {workload} GPU node: {exc}") from exc
        metrics.gpu_launches.labels(workload).inc()
        self.add(instance, state="launching", holder=holder)  # before dropping the reservation: no gap
        self._forget(reservation, workload)
        if not self._wait_ready(instance) or not self._move_state(
                instance.id, ["launching"], "busy", holder=holder, lease_expiry=self.clock() + self.policy.lease_ttl,
                idle_since=self.clock()):
            self.stop(instance.id, reason="never became healthy after launch")
            metrics.gpu_launch_failures.labels(workload).inc()
            raise LeaseUnavailable(f"the launched {workload} GPU node never answered its health check "
                                   f"within {self.policy.ready_timeout:.0f} s")
        return instance.id, instance.node

    def _wait_ready(self, instance: Instance) -> bool:
        give_up = self.clock() + self.policy.ready_timeout
        while self.instance(instance.id) is not None:
            try:
                if self.provider.health(instance):
                    return True
            except Exception:
                pass
            if self.clock() >= give_up:
                return False
            self.sleep(self.policy.ready_poll)
        return False
