"""The entry point of the audio-normalize plugin: the plugin API it supports and its task."""

from render_core.plugin import Task, hookimpl

from .schema import SCHEMA
from .task import run

#: The plugin API versions this plugin works with (render_core.plugin.PLUGIN_API_VERSION).
C3_RENDER_PLUGIN_API = ">=1.0,<2"


@hookimpl
def c3_render_tasks():
    return [Task(name="audio-normalize", schema=SCHEMA, run=run, output="media",
                 summary="Normalize an audio file's loudness (EBU R128) to MP3 or WAV")]
