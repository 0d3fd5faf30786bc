"""Loading plugins: the declared plugin API range, import and registration failures, named."""

from __future__ import annotations

import itertools
import subprocess
import sys

import pytest

from render_core.plugin import PLUGIN_API_VERSION
from render_core.sdk.api_version import incompatibility
from render_core.sdk.registry import PluginLoadError, check_plugins, load_registry
from support.distributions import task_plugin_source, write_distribution

_ids = itertools.count()


@pytest.fixture
def install(tmp_path, monkeypatch):
    """``install(source=..., api_range=...)`` -> the entry point name of a fresh throwaway plugin distribution."""
    root = tmp_path / "site"
    monkeypatch.syspath_prepend(str(root))

    def install(source: str | None = None, name: str | None = None, distribution: str | None = None,
                **source_options) -> str:
        ident = next(_ids)
        module = f"throwaway_plugin_{ident}_{tmp_path.name[-8:].replace('-', '_')}"
        name = name or f"throwaway{ident}"
        task = f"throwaway-{ident}"
        write_distribution(root, distribution or f"c3-render-throwaway{ident}",
                           {module: source if source is not None else task_plugin_source(task, **source_options)},
                           {name: module})
        monkeypatch.delitem(sys.modules, module, raising=False)
        return name

    return install


def problems_of(only: str) -> list[str]:
    return [str(problem) for problem in check_plugins(only=only).problems]


def test_a_plugin_declaring_a_range_that_holds_this_api_loads(install):
    name = install(api_range=">=1.0,<2")
    [info] = [i for i in load_registry(only=name).plugins() if i.name == name]
    assert info.api == ">=1.0,<2" and info.tasks and info.version == "0.0.1"
    assert f"entry point {name} = throwaway_plugin_" in info.origin


def test_an_incompatible_plugin_is_refused_naming_it_and_both_versions(install):
    name = install(api_range=">=2.0,<3")
    with pytest.raises(PluginLoadError) as caught:
        load_registry(only=name)
    [problem] = caught.value.problems
    assert problem.plugin == name and f"entry point {name} = " in problem.origin
    assert "supports plugin API >=2.0,<3" in problem.message
    assert f"provides plugin API {PLUGIN_API_VERSION}" in problem.message


def test_a_plugin_that_fails_to_import_stops_loading_naming_its_entry_point(install):
    name = install(source="import a_module_that_is_not_installed\n")
    with pytest.raises(PluginLoadError, match=rf"plugin '{name}' \(entry point {name} = throwaway_plugin_\S+ in "
                                              rf"c3-render-throwaway\d+ 0.0.1\): failed to import: "
                                              rf"ModuleNotFoundError"):
        load_registry(only=name)


def test_a_plugin_left_out_of_c3_render_plugins_is_never_imported(install):
    broken = install(source="raise RuntimeError('imported')\n")
    good = install()
    registry = load_registry(only=good)  # settings.render_plugins, from C3_RENDER_PLUGINS
    assert broken in registry.loaded.excluded
    assert good in {info.name for info in registry.plugins()}
    assert broken not in {info.name for info in registry.plugins()}


@pytest.mark.parametrize("source_options, expected", [
    ({"api_range": "banana"}, "C3_RENDER_PLUGIN_API = 'banana' is not a version range"),
    ({"extra": "@hookimpl\ndef c3_render_task():\n    return []\n"}, "implements unknown hook(s) c3_render_task"),
    ({"source": "from render_core.plugin import hookimpl\nC3_RENDER_PLUGIN_API = '>=1.0'\n"
                "@hookimpl\ndef c3_render_tasks(extra_argument):\n    return []\n"}, "could not be registered"),
])
def test_registration_problems_are_named(install, source_options, expected):
    name = install(**source_options)
    [problem] = problems_of(name)
    assert problem.startswith(f"plugin '{name}' (entry point {name} = ") and expected in problem


def test_a_hook_that_raises_or_returns_junk_is_the_plugins_problem(install):
    crashing = install(source="from render_core.plugin import Schema, Task, hookimpl\n"
                              "C3_RENDER_PLUGIN_API = '>=1.0'\n"
                              "@hookimpl\ndef c3_render_tasks():\n"
                              "    return [Task('Bad Name', Schema({}), print, output='text')]\n")
    junk = install(source="from render_core.plugin import hookimpl\nC3_RENDER_PLUGIN_API = '>=1.0'\n"
                          "@hookimpl\ndef c3_render_tasks():\n    return 'echo'\n")
    problems = problems_of(f"{crashing},{junk}")
    assert any(p.startswith(f"plugin '{crashing}'") and "c3_render_tasks() raised ValueError: task name 'Bad Name'"
               in p for p in problems), problems
    assert any(p.startswith(f"plugin '{junk}'") and "returned str, not a list" in p for p in problems), problems


def test_every_problem_is_reported_at_once(install):
    names = [install(api_range=">=9"), install(source="1/0\n"), install()]
    problems = check_plugins(only=",".join(names)).problems
    assert [p.plugin for p in problems] == names[:2]


def test_an_undeclared_range_is_a_warning_not_a_problem(install):
    name = install(api_range=None)
    registry = load_registry(only=name)
    assert name in registry.tasks.keys() or any(i.name == name for i in registry.plugins())
    [warning] = [w for w in registry.loaded.warnings if w.plugin == name]
    assert "declares no C3_RENDER_PLUGIN_API" in warning.message


def test_two_distributions_claiming_one_entry_point_name_are_a_problem(install):
    install(name="twin", distribution="c3-render-twin-a")
    install(name="twin", distribution="c3-render-twin-b")
    [problem] = problems_of("twin")
    assert "the entry point name is also used by c3-render-twin-" in problem


def test_the_builtin_plugins_declare_a_range_that_holds_this_api():
    registry = load_registry()
    for name in ("csm", "whisper", "portrait", "analyze", "echo", "c3_render.builtin_providers"):
        plugin = registry.manager.get_plugin(name)
        assert plugin.C3_RENDER_PLUGIN_API == ">=1.0,<2" and incompatibility(plugin) is None, name
    assert not [w for w in registry.loaded.warnings if w.plugin in {"csm", "whisper", "portrait", "analyze"}]


def test_plugins_check_exits_non_zero_on_a_broken_or_incompatible_plugin(tmp_path):
    site = tmp_path / "site"
    write_distribution(site, "c3-render-broken", {"cli_broken_plugin": "raise ImportError('no engine')\n"},
                       {"broken": "cli_broken_plugin"})
    write_distribution(site, "c3-render-future", {"cli_future_plugin": task_plugin_source("future", ">=2")},
                       {"future": "cli_future_plugin"})
    write_distribution(site, "c3-render-configured", {"cli_configured_plugin": task_plugin_source("configured", extra=(
        "from render_core.plugin import Setting, above\n"
        "LIMIT = Setting('C3_CONFIGURED_LIMIT', 3.0, 'a limit', check=above(0))\n"
        "@hookimpl\ndef c3_render_settings():\n    return [LIMIT]\n"))}, {"configured": "cli_configured_plugin"})
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(site), "C3_CONFIGURED_LIMIT": "-1"}

    def cli(*args, **extra_env):
        return subprocess.run([sys.executable, "-m", "render_core.cli", *args], capture_output=True, text=True,
                              env={**env, **extra_env}, timeout=60)

    check = cli("plugins", "--check")
    assert check.returncode == 1, check.stdout + check.stderr
    assert "FAILED  plugin 'broken' (entry point broken = cli_broken_plugin in c3-render-broken 0.0.1): " \
           "failed to import: ImportError: no engine" in check.stdout
    assert "FAILED  plugin 'future' (entry point future = cli_future_plugin in c3-render-future 0.0.1): " \
           f"incompatible: it supports plugin API >=2, but this C3 Render provides plugin API {PLUGIN_API_VERSION}" \
           in check.stdout
    assert "FAILED  plugin 'configured' (entry point configured = cli_configured_plugin in c3-render-configured " \
           "0.0.1): configuration error: C3_CONFIGURED_LIMIT='-1' is not valid: must be above 0" in check.stdout
    assert "ok      echo 1.2.3" in check.stdout

    start = cli("worker")
    assert start.returncode == 2 and "Traceback" not in start.stderr
    assert "plugin 'broken' (entry point broken = cli_broken_plugin" in start.stderr
    assert "plugin 'future' (entry point future = cli_future_plugin" in start.stderr

    excluded = cli("plugins", "--check", C3_RENDER_PLUGINS="echo,csm,configured", C3_CONFIGURED_LIMIT="2")
    assert excluded.returncode == 0, excluded.stdout
    assert "skipped broken" in excluded.stdout and "FAILED" not in excluded.stdout
    assert "ok      configured 0.0.1" in excluded.stdout
