"""The public API for task plugins: a plugin imports from here and nowhere deeper.

A plugin is an installable package with an entry point in the group
``c3_render.plugins`` whose module implements ``c3_render_tasks``::

    from .plugin import hookimpl, Task, Schema, Url, TextOutput

    def run(ctx, params):
        path = ctx.download(params["image_url"])
        return TextOutput(f"{path.stat().st_size} bytes")

    @hookimpl
    def c3_render_tasks():
        return [Task("size", Schema({"image_url": Url(required=True)}), run, output="text")]
"""

from render_core.sdk.context import TaskContext
from render_core.sdk.errors import JobError, NodeError
from render_core.sdk.gradio_call import call_gradio
from render_core.sdk.hookspecs import hookimpl
from render_core.sdk.node import Node
from render_core.sdk.schema import Boolean, Field, Integer, Number, Problem, Schema, String, StringList, Url
from render_core.sdk.task import FileOutput, Output, Task, TextOutput

__all__ = [
    "Boolean", "Field", "FileOutput", "Integer", "JobError", "Node", "NodeError", "Number",
    "Output", "Problem", "Schema", "String", "StringList", "Task", "TaskContext", "TextOutput",
    "Url", "call_gradio", "hookimpl",
]
