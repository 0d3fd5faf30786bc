import pytest

from render_core.sdk.hookspecs import hookimpl
from render_core.sdk.registry import COMMON_FIELDS, RegistryError, load_registry
from render_core.sdk.schema import Schema
from render_core.sdk.task import Task, TextOutput


def make_plugin(*tasks):
    class Plugin:
        @hookimpl
        def c3_render_tasks(self):
            return list(tasks)

    return Plugin()


def task(name):
    return Task(name, Schema({}), lambda ctx, params: TextOutput("x"), output="text")


def test_builtin_plugins_come_from_entry_points_with_versions():
    registry = load_registry()
    names = {info.name: info for info in registry.plugins()}
    assert {"csm", "whisper", "portrait", "analyze", "echo"} <= set(names)
    assert names["echo"].version == "1.2.3" and names["echo"].tasks == ("echo", "echo-file", "echo-gpu")
    assert registry.get("whisper").output == "text" and registry.get("csm").output == "media"


def test_only_restricts_loaded_plugins():
    assert set(load_registry(only="echo").tasks) == {"echo", "echo-file", "echo-gpu"}


def test_duplicate_task_names_are_refused():
    with pytest.raises(RegistryError, match="provided by both"):
        load_registry(only="echo", extra_plugins=(make_plugin(task("echo")),))


def test_hook_must_return_tasks():
    with pytest.raises(RegistryError, match="not a Task"):
        load_registry(only="none", extra_plugins=(make_plugin("oops"),))


def test_request_schema_adds_the_common_fields():
    registry = load_registry(only="none", extra_plugins=(make_plugin(task("size")),))
    schema = registry.request_schema(registry.get("size"))
    assert set(COMMON_FIELDS) <= set(schema.fields)
    assert schema.validate({}) == {"notify_url": None, "max_time": 1200, "complete_in": 3600}


@pytest.mark.parametrize("name", ["Bad", "1abc", "a b", "", "x" * 41])
def test_task_names_are_url_safe(name):
    with pytest.raises(ValueError):
        task(name)
