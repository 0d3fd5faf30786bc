"""The public API for task plugins: a plugin imports from here and nowhere deeper.

A plugin is an installable package with an entry point in the group
``c3_render.plugins`` whose module implements ``c3_render_tasks``::

    from render_core.plugin import hookimpl, Task, Schema, Url, TextOutput

    C3_RENDER_PLUGIN_API = ">=1.0,<2"   # the plugin API versions this plugin works with

    def run(ctx, params):
        path = ctx.download(params["image_url"])
        return TextOutput(f"{path.stat().st_size} bytes")

    @hookimpl
    def c3_render_tasks():
        return [Task("size", Schema({"image_url": Url(required=True)}), run, output="text")]

A plugin that reads environment variables declares them with :class:`Setting`,
returns the declarations from ``c3_render_settings`` (they join the README's
configuration table and are checked when a worker starts) and reads them with
``SETTING.read()`` or :func:`read_settings`, never ``os.environ``::

    TIMEOUT = Setting("SIZE_TIMEOUT", 30.0, "seconds one request may take", unit="s", check=above(0))

    @hookimpl
    def c3_render_settings():
        return [TIMEOUT]

    timeout = TIMEOUT.read()  # SettingsError names the variable when its value is bad

The guide with a tutorial and the reference of every name here is docs/plugins.md.
"""

from render_core.sdk.api_version import PLUGIN_API_VERSION
from render_core.sdk.context import TaskContext
from render_core.sdk.errors import JobError, NodeAppError, NodeError
from render_core.sdk.gradio_call import call_gradio
from render_core.sdk.hookspecs import hookimpl
from render_core.sdk.image_decode import DecodeStopped, ImageTooLarge, ReducedImage, decode_reduced
from render_core.sdk.node import Node
from render_core.sdk.schema import (Boolean, ExactlyOne, Field, Integer, Number, Problem, RequiredWhen, Schema, String,
                                    StringList, Url)
from render_core.sdk.setting import (Setting, SettingsError, above, at_least, between, existing_file, http_url,
                                    read_settings)
from render_core.sdk.task import FileOutput, Output, Task, TextOutput
from render_core.sdk.transport import is_transport_failure

__all__ = [
    "Boolean", "DecodeStopped", "ExactlyOne", "Field", "FileOutput", "ImageTooLarge", "Integer", "JobError",
    "Node", "NodeAppError", "NodeError", "Number", "Output", "PLUGIN_API_VERSION", "Problem", "ReducedImage",
    "RequiredWhen", "Schema", "Setting", "SettingsError", "String", "StringList", "Task", "TaskContext",
    "TextOutput", "Url", "above", "at_least", "between", "call_gradio", "decode_reduced", "existing_file",
    "hookimpl", "http_url", "is_transport_failure", "read_settings",
]
