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
    """Return ``{name: factory}``; ``factory(settings)`` builds the GPU provider selected by GPU_PROVIDER.

    The provider implements ``render_core.gpu.providers.base.Provider``: the attributes ``name``,
    ``unlimited`` and ``always_running`` and the methods ``launch``, ``stop``, ``list_running``, ``health``.
    """


@hookspec
def c3_render_settings():
    """Return the :class:`render_core.plugin.Setting` declarations of every environment variable this
    plugin reads; read them with :func:`render_core.plugin.read_settings`. They are listed in the
    README's configuration table and checked when a worker starts."""
