"""Dramatiq middleware of C3 Render, one concern per module; actors opt in by actor option."""

from .deadline import Deadline
from .gpu_lease import GpuLease
from .job_hold import JobHold
from .shutdown import GracefulShutdown
from .stage_metrics import StageMetrics

__all__ = ["Deadline", "GpuLease", "GracefulShutdown", "JobHold", "StageMetrics"]
