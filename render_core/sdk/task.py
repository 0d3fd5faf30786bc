"""What a plugin declares: a task and the outputs its ``run`` may return."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Literal, Union

from .schema import Schema

if TYPE_CHECKING:
    from .context import TaskContext

TASK_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")


@dataclass(frozen=True)
class FileOutput:
    """A media file the core uploads to S3 as ``{job_id}{suffix}`` behind a presigned URL."""

    path: Path
    content_type: str | None = None
    metadata: dict = field(default_factory=dict)


@dataclass(frozen=True)
class TextOutput:
    """A text result returned to the client as ``text``."""

    text: str
    metadata: dict = field(default_factory=dict)


Output = Union[FileOutput, TextOutput]


@dataclass(frozen=True)
class Task:
    """One job type.

    Parameters:
      name: URL path and job type (``POST /<name>``), lowercase.
      schema: the task's own request fields (the core adds notify_url,
        max_time and complete_in).
      run: ``run(ctx, params) -> FileOutput | TextOutput``.
      output: ``"media"`` or ``"text"``: what a successful job returns.
      workload: GPU workload type the task needs (e.g. ``"media:fast"``),
        or None when it never needs a GPU.
      summary: one line for the OpenAPI document and ``c3-render plugins``.
    """

    name: str
    schema: Schema
    run: Callable[["TaskContext", dict], Output]
    output: Literal["media", "text"]
    workload: str | None = None
    summary: str = ""

    def __post_init__(self):
        if not TASK_NAME.match(self.name):
            raise ValueError(f"task name {self.name!r} must match {TASK_NAME.pattern}")
        if self.output not in ("media", "text"):
            raise ValueError(f"task {self.name!r}: output must be 'media' or 'text'")

    @property
    def queue(self) -> str:
        """The Dramatiq queue this task's jobs go to."""
        return f"task.{self.name}"
