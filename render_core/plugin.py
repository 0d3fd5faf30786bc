"""The public API for task plugins: a plugin imports from here and nowhere deeper.

A plugin is an installable package with an entry point in the group
``c3_render.plugins`` whose module implements ``c3_render_tasks``::

    from render_core.plugin import hookimpl, Task, Schema, Url, TextOutput

    def run(ctx, params):
        path = ctx.download(params["image_url"])
        return TextOutput(f"{path.stat().st_size} bytes")

    @hookimpl
    def c3_render_tasks():
        return [Task("size", Schema({"image_url": Url(required=True)}), run, output="text")]
"""

from .context import Node, TaskContext
from .errors import JobError, NodeError
from .gradio_call import call_gradio
from .hookspecs import hookimpl
from .schema import Boolean, Field, Integer, Number, Problem, Schema, String, StringList, Url
from .task import FileOutput, Output, Task, TextOutput

__all__ = [
    "Boolean", "Field", "FileOutput", "Integer", "JobError", "Node", "NodeError", "Number",
    "Output", "Problem", "Schema", "String", "StringList", "Task", "TaskContext", "TextOutput",
    "Url", "call_gradio", "hookimpl",
]
