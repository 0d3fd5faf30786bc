"""The built-in providers, registered with pluggy like any plugin's (GPU_PROVIDER selects one)."""

from render_core.sdk.hookspecs import hookimpl

from .comput3 import Comput3Provider
from .local import LocalProvider
from .static import StaticProvider

#: The plugin API versions this plugin works with (render_core.plugin.PLUGIN_API_VERSION).
C3_RENDER_PLUGIN_API = ">=1.0,<2"


@hookimpl
def c3_render_providers():
    return {"comput3": Comput3Provider.from_settings, "static": StaticProvider.from_settings,
            "local": LocalProvider.from_settings}
