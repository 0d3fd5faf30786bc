"""Hook specifications of C3 Render. Plugins implement them with ``@hookimpl``."""

import pluggy

PROJECT = "c3_render"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def c3_render_tasks():
    """Return a list of :class:`render_core.plugin.Task` this plugin provides."""


@hookspec
def c3_render_providers():
    """Return ``{name: factory}``; ``factory(settings)`` builds a GPU :class:`Provider` selected by GPU_PROVIDER."""
