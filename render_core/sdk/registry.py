"""The plugin registry: a pluggy manager fed by the ``c3_render.plugins`` entry points.

Built-in tasks are registered exactly like a third party's, through the entry
point group, and so are the core distribution's built-in GPU providers. The caller
says which task plugins load (``C3_RENDER_PLUGINS``: comma-separated entry-point
names; the core's own entry points always load) and whether hook calls are logged
(``C3_RENDER_TRACE_HOOKS``). Plugins declare the environment variables they read
through ``c3_render_settings``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Mapping

import pluggy

from . import hookspecs
from .schema import Integer, Schema, Url
from .setting import Setting, read_settings
from .task import Task

ENTRY_POINT_GROUP = "c3_render.plugins"
#: The distribution whose own entry points (the built-in GPU providers) are never filtered out.
CORE_DISTRIBUTION = "c3-render"

log = logging.getLogger(__name__)

#: Fields every task accepts, with the original service's ranges and defaults.
COMMON_FIELDS = {
    "notify_url": Url(description="Webhook URL that receives the job's final status."),
    "max_time": Integer(default=1200, minimum=60, maximum=7200,
                        description="Maximum processing time in seconds once the job starts."),
    "complete_in": Integer(default=3600, minimum=60, maximum=86400,
                           description="The job must finish within this many seconds of submission."),
}


class RegistryError(RuntimeError):
    """Two plugins claim the same task name or variable, or a plugin returned something of the wrong kind."""


@dataclass(frozen=True)
class PluginInfo:
    """One loaded plugin: its name, distribution version and task names."""

    name: str
    version: str
    tasks: tuple[str, ...]
    providers: tuple[str, ...] = ()


class Registry:
    """Loaded plugins and the tasks they provide, by name."""

    def __init__(self, manager: pluggy.PluginManager):
        self.manager = manager
        self.tasks: dict[str, Task] = {}
        self._owners: dict[str, str] = {}
        for impl in reversed(manager.hook.c3_render_tasks.get_hookimpls()):
            for task in impl.function() or ():
                if not isinstance(task, Task):
                    raise RegistryError(f"plugin {impl.plugin_name!r} returned {task!r}, not a Task")
                if task.name in self.tasks:
                    raise RegistryError(f"task {task.name!r} is provided by both "
                                        f"{self._owners[task.name]!r} and {impl.plugin_name!r}")
                self.tasks[task.name] = task
                self._owners[task.name] = impl.plugin_name
        self.providers: dict = {}
        self._provider_owners: dict[str, str] = {}
        for impl in reversed(manager.hook.c3_render_providers.get_hookimpls()):
            for name, factory in (impl.function() or {}).items():
                self.providers[name] = factory
                self._provider_owners[name] = impl.plugin_name
        self.settings: dict[str, tuple[Setting, ...]] = {}
        owners: dict[str, str] = {}
        for impl in reversed(manager.hook.c3_render_settings.get_hookimpls()):
            declared = tuple(impl.function() or ())
            for setting in declared:
                if not isinstance(setting, Setting):
                    raise RegistryError(f"plugin {impl.plugin_name!r} declared {setting!r}, not a Setting")
                for name in setting.names:
                    if name in owners:
                        raise RegistryError(f"variable {name} is declared by both {owners[name]!r} "
                                            f"and {impl.plugin_name!r}")
                    owners[name] = impl.plugin_name
            self.settings[impl.plugin_name] = declared

    def get(self, name: str) -> Task | None:
        return self.tasks.get(name)

    def provider(self, name: str, settings):
        """Build the GPU provider ``name`` (GPU_PROVIDER) from its plugin's factory."""
        factory = self.providers.get(name)
        if factory is None:
            known = ", ".join(sorted(self.providers)) or "none"
            raise RegistryError(f"GPU_PROVIDER={name!r} is not provided by any plugin (known: {known})")
        return factory(settings)

    def read_settings(self, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
        """Every plugin variable read now; SettingsError names a bad one. (A worker checks them at
        start with :func:`render_core.config.settings.check_plugin_settings`.)"""
        return {name: value for declared in self.settings.values()
                for name, value in read_settings(declared, environ).items()}

    def request_schema(self, task: Task) -> Schema:
        """The full request body schema: the task's fields plus the common ones."""
        return task.schema.extend(COMMON_FIELDS)

    def plugins(self) -> list[PluginInfo]:
        """Every loaded plugin with its distribution version and task names."""
        versions = {self.manager.get_name(plugin): dist.version
                    for plugin, dist in self.manager.list_plugin_distinfo()}
        infos = []
        for plugin in self.manager.get_plugins():
            name = self.manager.get_name(plugin)
            tasks = tuple(sorted(t for t, owner in self._owners.items() if owner == name))
            providers = tuple(sorted(p for p, owner in self._provider_owners.items() if owner == name))
            infos.append(PluginInfo(name=name, version=versions.get(name, ""), tasks=tasks, providers=providers))
        return sorted(infos, key=lambda info: info.name)


def _is_core(entry_point: metadata.EntryPoint) -> bool:
    """Entry points of the core distribution itself (the built-in providers) always load."""
    return entry_point.dist is not None and entry_point.dist.name == CORE_DISTRIBUTION


def load_registry(only: str = "", extra_plugins: tuple = (), trace_hooks: bool = False) -> Registry:
    """Build the registry from installed entry points.

    Parameters:
      only: comma-separated entry-point names to load (``settings.render_plugins``;
        empty = all).
      extra_plugins: plugin objects registered directly (tests).
      trace_hooks: log every hook call at debug level (``settings.trace_hooks``).
    """
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    names = {n.strip() for n in only.split(",") if n.strip()}
    if names:
        for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP):
            if entry_point.name not in names and not _is_core(entry_point):
                manager.set_blocked(entry_point.name)
    manager.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
    for plugin in extra_plugins:
        manager.register(plugin)
    if trace_hooks:
        manager.trace.root.setwriter(log.debug)
        manager.enable_tracing()
    return Registry(manager)
