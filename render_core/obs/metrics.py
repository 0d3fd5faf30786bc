"""Prometheus metrics of C3 Render: every name the dashboards and alerts use.

Names are ``c3_render_*`` in base units (seconds, bytes), counters end in
``_total`` and no label carries a job id. Worker processes write through the
multiprocess collector (``PROMETHEUS_MULTIPROC_DIR``, set before this module is
imported); see :mod:`render_core.obs.export`.
"""

from collections.abc import Iterable

from prometheus_client import Counter, Gauge, Histogram

#: Bucket bounds in seconds, from sub-second API calls to 2 h renders.
SECONDS_BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200,
)

#: The stages a job passes through, each timed by ``stage_seconds``.
STAGES = ("queue_wait", "lease", "download", "inference", "upload", "webhook")

#: Terminal outcomes of a job.
OUTCOMES = ("success", "failed", "timed_out", "cancelled", "expired")

http_requests = Counter(
    "c3_render_http_requests_total", "HTTP requests answered by the API.", ["route", "method", "status"]
)
http_request_seconds = Histogram(
    "c3_render_http_request_duration_seconds", "API request latency in seconds.", ["route", "method"],
    buckets=SECONDS_BUCKETS,
)
jobs_submitted = Counter("c3_render_jobs_submitted_total", "Jobs accepted by the API.", ["task"])
jobs_finished = Counter(
    "c3_render_jobs_finished_total", "Jobs that reached a terminal status.", ["task", "outcome"]
)
jobs_in_progress = Gauge(
    "c3_render_jobs_in_progress", "Jobs running in worker threads now.", ["task"], multiprocess_mode="livesum"
)
stage_seconds = Histogram(
    "c3_render_stage_duration_seconds", "Seconds spent per job stage.", ["task", "stage"], buckets=SECONDS_BUCKETS
)
webhook_deliveries = Counter(
    "c3_render_webhook_deliveries_total", "Webhook deliveries finished, by outcome (delivered, failed).", ["outcome"]
)
webhook_attempts = Counter(
    "c3_render_webhook_attempts_total", "Webhook POST attempts, by result (ok, error).", ["result"]
)
worker_threads = Gauge(
    "c3_render_worker_threads", "Worker threads available to run jobs.", multiprocess_mode="livesum"
)
worker_heartbeat = Gauge(
    "c3_render_worker_heartbeat_timestamp_seconds", "Unix time of the last worker heartbeat.",
    multiprocess_mode="max",
)
gpu_instances = Gauge(
    "c3_render_gpu_instances", "GPU instances in the pool, by workload type and state.", ["workload", "state"],
    multiprocess_mode="max",
)
gpu_launches = Counter("c3_render_gpu_launches_total", "GPU instance launches.", ["workload"])
gpu_launch_failures = Counter("c3_render_gpu_launch_failures_total", "Failed GPU instance launches.", ["workload"])
gpu_billed_seconds = Counter(
    "c3_render_gpu_billed_seconds_total", "GPU seconds billed, launch to stop.", ["workload"]
)


def declare_series(tasks: Iterable, instance_states: Iterable[str] = ()) -> None:
    """Export the per-task and per-GPU-workload series of ``tasks`` at zero before anything happens.

    Call once per worker process with the registered tasks (objects with ``name`` and
    ``workload``) and the pool's instance states. Dashboards and ``rate()`` then show 0 instead of "no data" for idle tasks
    and for workloads that never rented a GPU (e.g. with ``GPU_PROVIDER=local``: no
    instances, no launches, no billed seconds, which is the truth).
    """
    workloads = set()
    for task in tasks:
        jobs_in_progress.labels(task.name)
        if task.workload:
            workloads.add(task.workload)
    for workload in sorted(workloads):
        for state in instance_states:
            gpu_instances.labels(workload, state)
        gpu_launches.labels(workload)
        gpu_launch_failures.labels(workload)
        gpu_billed_seconds.labels(workload)
