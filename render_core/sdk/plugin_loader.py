"""Loading plugins from the ``c3_render.plugins`` entry points, with every failure named.

Each entry point is imported, its declared plugin API range checked
(:mod:`.api_version`), its hook implementations matched against the hook
specifications, then registered with pluggy. Nothing here raises: every
failure becomes a :class:`PluginProblem` that names the plugin, its entry
point and its distribution, so ``load_registry`` can refuse to start and
``c3-render plugins --check`` can list them all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import metadata

import pluggy

from . import hookspecs
from .api_version import DECLARATION, PLUGIN_API_VERSION, declared_range, incompatibility

ENTRY_POINT_GROUP = "c3_render.plugins"
#: The distribution whose own entry points (the built-in GPU providers) are never filtered out.
CORE_DISTRIBUTION = "c3-render"


@dataclass(frozen=True)
class PluginProblem:
    """Something wrong with one plugin: which plugin, where it comes from, what is wrong."""

    plugin: str
    origin: str
    message: str

    def __str__(self) -> str:
        return f"plugin {self.plugin!r} ({self.origin}): {self.message}"


@dataclass
class LoadedPlugins:
    """The plugin manager with every plugin that loaded, and what went wrong with the others.

    ``origins`` maps a plugin name to where it came from (entry point and distribution),
    ``versions`` to its distribution's version, ``excluded`` lists the entry points
    skipped because ``C3_RENDER_PLUGINS`` does not name them (never imported).
    """

    manager: pluggy.PluginManager
    origins: dict[str, str] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    problems: list[PluginProblem] = field(default_factory=list)
    warnings: list[PluginProblem] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)

    def problem(self, plugin: str, message: str) -> None:
        self.problems.append(PluginProblem(plugin, self.origins.get(plugin, "registered directly"), message))


def hook_names() -> frozenset[str]:
    """The names of every hook plugins may implement."""
    marker = f"{hookspecs.PROJECT}_spec"  # the attribute pluggy's HookspecMarker sets
    return frozenset(name for name, value in vars(hookspecs).items() if hasattr(value, marker))


def load_plugins(only: str = "", extra_plugins: tuple = (), entry_points: bool = True) -> LoadedPlugins:
    """Import and register the installed plugins; never raises for a plugin's fault.

    Parameters:
      only: comma-separated entry-point names to load (``C3_RENDER_PLUGINS``; empty = all).
        The core's own entry points always load.
      extra_plugins: plugin objects registered directly (tests, the test harness).
      entry_points: False loads no installed plugin at all, only ``extra_plugins``.
    """
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    loaded = LoadedPlugins(manager)
    names = {n.strip() for n in only.split(",") if n.strip()}
    distributions: dict[str, str] = {}
    for dist, entry_point in _entry_points() if entry_points else ():
        if names and entry_point.name not in names and dist.name != CORE_DISTRIBUTION:
            loaded.excluded.append(entry_point.name)
            continue
        if entry_point.name in distributions:
            if distributions[entry_point.name] != dist.name:  # the same distribution twice on sys.path is harmless
                loaded.problems.append(PluginProblem(
                    entry_point.name, _origin(dist, entry_point),
                    f"the entry point name is also used by {distributions[entry_point.name]}; "
                    f"uninstall one of them"))
            continue
        distributions[entry_point.name] = dist.name
        loaded.origins[entry_point.name] = _origin(dist, entry_point)
        loaded.versions[entry_point.name] = dist.version
        try:
            plugin = entry_point.load()
        except (Exception, SystemExit) as exc:  # a plugin's import error must not hide behind a traceback
            loaded.problem(entry_point.name, f"failed to import: {type(exc).__name__}: {exc}")
            continue
        _register(loaded, plugin, entry_point.name)
    for plugin in extra_plugins:
        _register(loaded, plugin, manager.get_canonical_name(plugin))
    return loaded


def _entry_points():
    for dist in metadata.distributions():
        for entry_point in dist.entry_points:
            if entry_point.group == ENTRY_POINT_GROUP:
                yield dist, entry_point


def _origin(dist, entry_point) -> str:
    return f"entry point {entry_point.name} = {entry_point.value} in {dist.name} {dist.version}"


def _register(loaded: LoadedPlugins, plugin: object, name: str) -> None:
    """Check ``plugin`` and register it under ``name``, or record why not."""
    manager = loaded.manager
    reason = incompatibility(plugin)
    if reason:
        loaded.problem(name, f"incompatible: {reason}")
        return
    known = hook_names()
    implemented = [attr for attr in dir(plugin) if manager.parse_hookimpl_opts(plugin, attr) is not None]
    unknown = [attr for attr in implemented if attr not in known]
    if unknown:
        loaded.problem(name, f"implements unknown hook(s) {', '.join(unknown)} "
                             f"(plugin API {PLUGIN_API_VERSION} has {', '.join(sorted(known))})")
        return
    try:
        manager.register(plugin, name=name)
    except (ValueError, pluggy.PluginValidationError) as exc:
        loaded.problem(name, f"could not be registered: {exc}")
        return
    if declared_range(plugin) is None:
        loaded.warnings.append(PluginProblem(
            name, loaded.origins.get(name, "registered directly"),
            f"declares no {DECLARATION}; assumed compatible with plugin API {PLUGIN_API_VERSION}"))
    if not implemented:
        loaded.warnings.append(PluginProblem(name, loaded.origins.get(name, "registered directly"),
                                             "implements no hook"))
