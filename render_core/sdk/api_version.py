"""The version of the plugin API and the check of the range a plugin declares.

The plugin API is everything ``render_core.plugin`` exports plus the hooks of
:mod:`render_core.sdk.hookspecs`. Its version moves independently of the
service's: a minor bump (1.0 -> 1.1) only adds names, a major bump (1.x -> 2.0)
changes or removes one. A plugin states the versions it works with in its
entry-point module::

    C3_RENDER_PLUGIN_API = ">=1.0,<2"

(a PEP 440 version specifier). The registry refuses a plugin whose range does
not contain :data:`PLUGIN_API_VERSION`; a plugin that declares nothing is
assumed compatible and named in a warning.
"""

from __future__ import annotations

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

#: The plugin API this core provides.
PLUGIN_API_VERSION = "1.0"

#: The module attribute in which a plugin declares the API versions it supports.
DECLARATION = "C3_RENDER_PLUGIN_API"


def declared_range(plugin: object) -> str | None:
    """The range ``plugin`` declares in :data:`DECLARATION`, or None when it declares none."""
    value = getattr(plugin, DECLARATION, None)
    return None if value is None else value if isinstance(value, str) else repr(value)


def incompatibility(plugin: object, api_version: str = PLUGIN_API_VERSION) -> str | None:
    """Why ``plugin`` cannot run on plugin API ``api_version``, or None when it can (or declares nothing)."""
    value = getattr(plugin, DECLARATION, None)
    if value is None:
        return None
    if not isinstance(value, str):
        return f"{DECLARATION} must be a version range string such as '>=1.0,<2', not {value!r}"
    try:
        accepted = SpecifierSet(value)
    except InvalidSpecifier:
        return f"{DECLARATION} = {value!r} is not a version range (write e.g. '>=1.0,<2')"
    if not accepted.contains(Version(api_version), prereleases=True):
        return (f"it supports plugin API {value}, but this C3 Render provides plugin API {api_version}; "
                f"install a version of the plugin made for plugin API {api_version}")
    return None
