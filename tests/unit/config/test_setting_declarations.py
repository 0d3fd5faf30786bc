"""Setting: how one declared variable is read; Settings built from the declarations; plugin ones."""

from __future__ import annotations

import typing
from pathlib import Path

import pytest

from render_core.sdk.setting import Setting, SettingsError, above, between, read_settings
from render_core.config.settings import Settings, check_plugin_settings
from render_core.plugin import hookimpl
from render_core.sdk.registry import RegistryError, load_registry


def test_values_are_parsed_to_the_declared_type():
    env = {"I": " 42 ", "F": "2.5", "B": "yes", "P": "~/x", "T": "  text  "}
    assert Setting("I", 1, "i").read(env) == 42
    assert Setting("F", 1.0, "f").read(env) == 2.5
    assert Setting("B", False, "b").read(env) is True
    assert Setting("P", Path("/"), "p").read(env) == Path("~/x").expanduser()
    assert Setting("T", "", "t").read(env) == "text"


def test_unset_or_blank_gives_the_default_and_aliases_are_read_in_order():
    setting = Setting("MAIN", "fallback", "m", aliases=("OLD", "OLDER"))
    assert setting.read({}) == "fallback"
    assert setting.read({"MAIN": "  "}) == "fallback"
    assert setting.read({"OLDER": "c", "OLD": "b"}) == "b"
    assert setting.read({"OLD": "b", "MAIN": "a"}) == "a"


@pytest.mark.parametrize("setting,raw,problem", [
    (Setting("N", 1, "n"), "one", "expected an integer"),
    (Setting("N", 1.0, "n", check=above(0)), "0", "must be above 0"),
    (Setting("N", 0.5, "n", check=between(0, 1)), "1.5", "must be between 0 and 1"),
    (Setting("N", False, "n"), "maybe", "expected true or false"),
    (Setting("N", "a", "n", choices=("a", "b")), "c", "expected one of a, b"),
])
def test_a_bad_value_names_the_variable_and_the_problem(setting, raw, problem):
    with pytest.raises(SettingsError, match=f"N='{raw}' is not valid: {problem}"):
        setting.read({"N": raw})


def test_the_alias_actually_set_is_the_one_named():
    with pytest.raises(SettingsError, match="BROKER_URL"):
        Setting("REDIS_X", 1, "r", aliases=("BROKER_URL",)).read({"BROKER_URL": "x"})


def test_choices_are_case_insensitive():
    assert Setting("C", "a", "c", choices=("ollama", "openai")).read({"C": "OpenAI"}) == "openai"


def test_read_settings_reads_each_declaration():
    declared = (Setting("A", 1, "a"), Setting("B", "x", "b"))
    assert read_settings(declared, {"A": "5"}) == {"A": 5, "B": "x"}


def test_an_unsupported_type_is_refused_at_declaration():
    with pytest.raises(TypeError, match="L"):
        Setting("L", [1], "a list")


def test_every_settings_field_is_declared_with_its_annotated_type():
    hints = typing.get_type_hints(Settings)
    for name, field in Settings.__dataclass_fields__.items():
        setting = field.metadata["setting"]
        annotated = hints[name]
        if setting.default is None:  # "not set" is a value of its own: annotated `type | None`
            assert typing.get_args(annotated)[1:] == (type(None),), f"{name}: default None, annotated {annotated}"
            annotated = typing.get_args(annotated)[0]
        assert setting.type is annotated, f"{name}: declared {setting.type}, annotated {hints[name]}"
        assert field.default == setting.default or (name == "redis_url" and setting.default == "")


def test_no_variable_is_declared_twice():
    names = [n for s in Settings.declarations() for n in s.names]
    assert len(names) == len(set(names))


def test_redis_url_from_its_alias_or_from_host_and_port():
    assert Settings.from_env({"BROKER_URL": "redis://b:1/3"}).redis_url == "redis://b:1/3"
    assert Settings.from_env({"REDIS_HOST": "h"}).redis_url == "redis://h:6379/0"


class _Plugin:
    def __init__(self, *declared):
        self.declared = declared

    @hookimpl
    def c3_render_settings(self):
        return self.declared


def test_the_registry_collects_and_checks_plugin_settings():
    registry = load_registry("none", extra_plugins=(_Plugin(Setting("MY_TIMEOUT", 3.0, "t", check=above(0))),))
    assert [s.name for group in registry.settings.values() for s in group] == ["MY_TIMEOUT"]
    assert registry.read_settings({"MY_TIMEOUT": "4"}) == {"MY_TIMEOUT": 4.0}
    with pytest.raises(SettingsError, match="MY_TIMEOUT='-1'"):
        registry.read_settings({"MY_TIMEOUT": "-1"})


def test_a_plugin_cannot_redeclare_a_core_or_another_plugins_variable():
    registry = load_registry("none", extra_plugins=(_Plugin(Setting("LOG_LEVEL", "x", "mine")),))
    with pytest.raises(SettingsError, match="declares LOG_LEVEL, a variable of the core"):
        check_plugin_settings(registry.settings, {})
    with pytest.raises(RegistryError, match="TWICE"):
        load_registry("none", extra_plugins=(_Plugin(Setting("TWICE", 1, "a")), _Plugin(Setting("TWICE", 2, "b"))))


def test_a_plugin_must_declare_settings_objects():
    with pytest.raises(RegistryError, match="not a Setting"):
        load_registry("none", extra_plugins=(_Plugin("MY_VARIABLE"),))


def test_the_builtin_plugins_declare_their_variables():
    registry = load_registry("analyze,csm,whisper")
    names = {s.name for group in registry.settings.values() for s in group}
    assert {"VISION_URL", "ANALYZE_WORKLOAD", "C3_TTS_ENGINE", "C3_WHISPER_MODEL_DIR"} <= names
