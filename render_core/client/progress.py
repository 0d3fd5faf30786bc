"""Showing a job's progress while waiting: a tqdm bar on a terminal, plain lines otherwise.

Both go to stderr, so stdout carries only the result.
"""

from __future__ import annotations

import sys

from tqdm import tqdm


class ProgressBar:
    """A bar of the job's progress (0-100 %) with its status and message."""

    def __init__(self, job_id: str):
        self.bar = tqdm(total=100, desc=job_id[:8], unit="%", file=sys.stderr, leave=True,
                        bar_format="{desc} {percentage:3.0f}%|{bar}| {elapsed}{postfix}", ncols=100)
        self.seen = 0.0

    def update(self, body: dict) -> None:
        percent = round(100 * float(body.get("progress") or 0.0), 1)
        if body["status"] == "success":
            percent = 100.0
        if percent > self.seen:
            self.bar.update(percent - self.seen)
            self.seen = percent
        message = "" if body["status"] in ("success", "cancelled") else body.get("progress_message") or ""
        self.bar.set_postfix_str(f"{body['status']} {message}".strip())

    def close(self) -> None:
        self.bar.close()


class ProgressLines:
    """One line per change of status, progress or message (for logs and pipes)."""

    def __init__(self, job_id: str):
        self.job_id = job_id
        self.last: tuple | None = None

    def update(self, body: dict) -> None:
        progress = body.get("progress")
        state = (body["status"], progress, body.get("progress_message"))
        if state == self.last:
            return
        self.last = state
        parts = [f"job {self.job_id}", body["status"]]
        if progress is not None:
            parts.append(f"{100 * float(progress):.0f}%")
        if body.get("progress_message"):
            parts.append(body["progress_message"])
        print(" ".join(parts), file=sys.stderr, flush=True)

    def close(self) -> None:
        pass


def progress_for(job_id: str, interactive: bool):
    """A bar when ``interactive`` (stdout is a terminal), else plain lines."""
    return ProgressBar(job_id) if interactive else ProgressLines(job_id)
