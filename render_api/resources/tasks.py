"""``POST /<task>``: validate the body against the task's schema and queue a job."""

from __future__ import annotations

import falcon

from render_core.runtime import Runtime
from render_core.task import Task

from ..body import read_json


class TaskResource:
    """One instance per registered task, mounted at ``/<task.name>``."""

    def __init__(self, runtime: Runtime, task: Task):
        self.runtime = runtime
        self.task = task
        self.schema = runtime.registry.request_schema(task)

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = read_json(req, self.runtime.settings.max_body_bytes)
        params = self.schema.validate(body)
        record = self.runtime.submit(self.task, params)
        resp.status = falcon.HTTP_200
        resp.media = {"id": record["id"], "status": record["status"]}
