"""The plugin registry: the tasks and GPU providers of the loaded plugins, by name.

Built-in tasks are registered exactly like a third party's, through the entry
point group, and so are the core distribution's built-in GPU providers. The caller
says which task plugins load (``C3_RENDER_PLUGINS``: comma-separated entry-point
names; the core's own entry points always load) and whether hook calls are logged
(``C3_RENDER_TRACE_HOOKS``). Plugins declare the environment variables they read
through ``c3_render_settings``. A plugin that fails to import, declares an
incompatible plugin API range, or returns bad tasks or settings stops
:func:`load_registry` with every problem named (:class:`PluginLoadError`);
:func:`check_plugins` reports the same without raising.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Mapping

from .api_version import declared_range
from .plugin_loader import LoadedPlugins, PluginProblem, load_plugins
from .schema import Integer, Schema, Url
from .setting import Setting, read_settings
from .task import Task

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
    """The plugins cannot make a registry (see :class:`PluginLoadError`), or no plugin provides a GPU provider."""


class PluginLoadError(RegistryError):
    """One or more plugins failed to import, are incompatible or returned bad tasks; ``problems`` lists them."""

    def __init__(self, problems: list[PluginProblem]):
        super().__init__("\n".join(str(problem) for problem in problems))
        self.problems = problems


@dataclass(frozen=True)
class PluginInfo:
    """One loaded plugin: its name, distribution version, declared plugin API range, tasks and providers."""

    name: str
    version: str
    tasks: tuple[str, ...]
    providers: tuple[str, ...] = ()
    api: str | None = None
    origin: str = ""


class Registry:
    """Loaded plugins and the tasks they provide, by name."""

    def __init__(self, loaded: LoadedPlugins):
        self.loaded = loaded
        self.manager = loaded.manager
        self.tasks: dict[str, Task] = {}
        self._owners: dict[str, str] = {}
        for impl in reversed(self.manager.hook.c3_render_tasks.get_hookimpls()):
            for task in self._call(impl, "c3_render_tasks", (list, tuple)):
                if not isinstance(task, Task):
                    loaded.problem(impl.plugin_name, f"c3_render_tasks() returned {task!r}, not a Task")
                elif task.name in self.tasks:
                    loaded.problem(impl.plugin_name, f"task {task.name!r} is provided by both "
                                                     f"{self._owners[task.name]!r} and {impl.plugin_name!r}")
                else:
                    self.tasks[task.name] = task
                    self._owners[task.name] = impl.plugin_name
        self.providers: dict = {}
        self._provider_owners: dict[str, str] = {}
        for impl in reversed(self.manager.hook.c3_render_providers.get_hookimpls()):
            for name, factory in self._call(impl, "c3_render_providers", (dict,)).items():
                self.providers[name] = factory
                self._provider_owners[name] = impl.plugin_name
        self.settings: dict[str, tuple[Setting, ...]] = {}
        owners: dict[str, str] = {}
        for impl in reversed(self.manager.hook.c3_render_settings.get_hookimpls()):
            declared = []
            for setting in self._call(impl, "c3_render_settings", (list, tuple)):
                if not isinstance(setting, Setting):
                    loaded.problem(impl.plugin_name, f"c3_render_settings() returned {setting!r}, not a Setting")
                    continue
                clash = [name for name in setting.names if name in owners]
                if clash:
                    loaded.problem(impl.plugin_name, f"variable {clash[0]} is declared by both "
                                                     f"{owners[clash[0]]!r} and {impl.plugin_name!r}")
                    continue
                owners.update({name: impl.plugin_name for name in setting.names})
                declared.append(setting)
            self.settings[impl.plugin_name] = tuple(declared)

    @property
    def problems(self) -> list[PluginProblem]:
        """Everything wrong with the plugins: import and registration failures, bad tasks."""
        return self.loaded.problems

    def _call(self, impl, hook: str, kinds: tuple[type, ...]):
        """Call one plugin's hook; a crash or a result not of ``kinds`` is recorded as its problem."""
        empty = kinds[0]()
        try:
            result = impl.function()
        except Exception as exc:
            self.loaded.problem(impl.plugin_name, f"{hook}() raised {type(exc).__name__}: {exc}")
            return empty
        if result is None:
            return empty
        if not isinstance(result, kinds):
            self.loaded.problem(impl.plugin_name, f"{hook}() returned {type(result).__name__}, "
                                                  f"not a {kinds[0].__name__}")
            return empty
        return result

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
        versions = self.loaded.versions
        infos = []
        for plugin in self.manager.get_plugins():
            name = self.manager.get_name(plugin)
            tasks = tuple(sorted(t for t, owner in self._owners.items() if owner == name))
            providers = tuple(sorted(p for p, owner in self._provider_owners.items() if owner == name))
            infos.append(PluginInfo(name=name, version=versions.get(name, ""), tasks=tasks, providers=providers,
                                    api=declared_range(plugin), origin=self.loaded.origins.get(name, "")))
        return sorted(infos, key=lambda info: info.name)


def check_plugins(only: str = "", extra_plugins: tuple = (), trace_hooks: bool = False,
                  entry_points: bool = True) -> Registry:
    """Load the plugins and return the registry with its ``problems`` and ``loaded.warnings``; never raises
    for a plugin's fault (``c3-render plugins --check``). Parameters as :func:`load_registry`."""
    registry = Registry(load_plugins(only, extra_plugins, entry_points))
    if trace_hooks:
        registry.manager.trace.root.setwriter(log.debug)
        registry.manager.enable_tracing()
    return registry


def load_registry(only: str = "", extra_plugins: tuple = (), trace_hooks: bool = False,
                  entry_points: bool = True) -> Registry:
    """Build the registry from installed entry points; raise PluginLoadError naming every broken plugin.

    Parameters:
      only: comma-separated entry-point names to load (``settings.render_plugins``;
        empty = all).
      extra_plugins: plugin objects registered directly (tests, the test harness).
      trace_hooks: log every hook call at debug level (``settings.trace_hooks``).
      entry_points: False loads only ``extra_plugins``, no installed plugin.
    """
    registry = check_plugins(only, extra_plugins, trace_hooks, entry_points)
    if registry.problems:
        raise PluginLoadError(registry.problems)
    for warning in registry.loaded.warnings:
        log.warning("%s", warning)
    return registry
