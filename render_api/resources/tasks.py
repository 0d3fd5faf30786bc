"""``POST /<task>``: validate the body against the task's schema and queue a job."""

from __future__ import annotations

import falcon

from render_core.sdk.task import Task

from ..body import read_json
from ..services import ApiServices


class TaskResource:
    """One instance per registered task, mounted at ``/<task.name>``."""

    def __init__(self, services: ApiServices, task: Task):
        self.services = services
        self.task = task
        self.schema = services.registry.request_schema(task)

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = read_json(req, self.services.settings.max_body_bytes)
        params = self.schema.validate(body)
        record = self.services.lifecycle.submit(self.task, params)
        resp.status = falcon.HTTP_200
        resp.media = {"id": record["id"], "status": record["status"]}
