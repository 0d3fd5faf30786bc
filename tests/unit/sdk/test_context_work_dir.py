"""TaskContext.work_dir: made on first use, so a job that writes no file costs no directory."""

import contextlib
import time

from render_core.sdk.context import TaskContext
from render_core.sdk.node import Node


def _context(work_dir):
    return TaskContext(job_id="job", task="echo", node=Node.local_machine(), work_dir=work_dir,
                       deadline=time.time() + 60, downloader=lambda url, dest, stop: dest,
                       reporter=lambda fraction, message: None, is_cancelled=lambda: False,
                       timer=lambda stage: contextlib.nullcontext())


def test_the_work_dir_exists_only_once_the_task_uses_it(tmp_path):
    work_dir = tmp_path / "output" / "job"
    ctx = _context(work_dir)
    assert not work_dir.exists()
    assert ctx.work_dir == work_dir and work_dir.is_dir()
    (ctx.work_dir / "result.txt").write_text("ok")
    assert (work_dir / "result.txt").read_text() == "ok"
