"""The README's configuration table, the declarations and the code agree.

A variable read without a declaration, a declaration nothing uses, a README table
out of date, or a variable named in the README that nobody declares: each fails here.
"""

from __future__ import annotations

import ast
import configparser
import importlib
import re
from pathlib import Path

import pytest

from render_core.client import settings as client_settings
from render_core.client.settings import SETTINGS as CLIENT_SETTINGS
from render_core.config.settings import Settings
from render_core.config.table import BEGIN, END, markdown_tables
from render_core.sdk.registry import load_registry

ROOT = Path(__file__).resolve().parents[3]
README = ROOT / "README.md"
SOURCES = ("render_core", "render_api", "plugins")
#: The one module that reads the environment.
READER = ROOT / "render_core" / "sdk" / "setting.py"
#: Names in backticks in the README that are not variables of this service.
NOT_OURS = {"IMAGEIO_FFMPEG_EXE"}


def builtin_plugins() -> dict[str, Path]:
    """Entry-point name -> package directory, for every plugin under plugins/."""
    found = {}
    for setup in sorted(ROOT.glob("plugins/*/setup.cfg")):
        config = configparser.ConfigParser()
        config.read(setup)
        for line in config["options.entry_points"]["c3_render.plugins"].strip().splitlines():
            name, target = (part.strip() for part in line.split("="))
            found[name] = setup.parent / target.split(".")[0]
    return found


@pytest.fixture(scope="module")
def plugin_settings() -> dict:
    registry = load_registry(",".join(builtin_plugins()))
    return {name: declared for name, declared in registry.settings.items() if name in builtin_plugins()}


def python_files():
    for top in SOURCES:
        yield from (p for p in (ROOT / top).rglob("*.py") if ".egg-info" not in str(p))


def environment_reads(tree: ast.AST) -> list[int]:
    """Lines that read a variable from os.environ / os.getenv (writes and whole copies are fine)."""
    def is_environ(node) -> bool:
        return isinstance(node, ast.Attribute) and node.attr == "environ" and \
            isinstance(node.value, ast.Name) and node.value.id == "os"

    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr == "getenv" and isinstance(node.func.value, ast.Name) and node.func.value.id == "os":
                lines.append(node.lineno)
            elif node.func.attr == "get" and is_environ(node.func.value):
                lines.append(node.lineno)
        elif isinstance(node, ast.Subscript) and is_environ(node.value) and isinstance(node.ctx, ast.Load):
            lines.append(node.lineno)
        elif isinstance(node, ast.Compare) and any(is_environ(c) for c in node.comparators):
            lines.append(node.lineno)
    return lines


def test_the_environment_is_read_only_through_declarations():
    offenders = [f"{path.relative_to(ROOT)}:{line}" for path in python_files() if path != READER
                 for line in environment_reads(ast.parse(path.read_text()))]
    assert not offenders, "read the environment through a Setting declaration instead: " + ", ".join(offenders)


def test_the_read_check_catches_the_usual_forms():
    tree = ast.parse("import os\na = os.environ.get('A')\nb = os.getenv('B')\nc = os.environ['C']\n"
                     "d = 'D' in os.environ\nos.environ['E'] = '1'\nos.environ.setdefault('F', '1')\n"
                     "env = {**os.environ}\n")
    assert environment_reads(tree) == [2, 3, 4, 5]


def test_the_readme_table_is_generated_from_the_declarations(plugin_settings):
    text = README.read_text()
    assert BEGIN in text and END in text, "the README lost its configuration table markers"
    shown = text[text.index(BEGIN) + len(BEGIN):text.index(END)].strip("\n") + "\n"
    expected = markdown_tables(Settings.declarations(), plugin_settings, CLIENT_SETTINGS)
    assert shown == expected, "the README's configuration table is out of date: run `make settings-table`"


def test_every_variable_named_in_the_readme_is_declared(plugin_settings):
    declared = {name for s in Settings.declarations() for name in s.names}
    declared |= {name for group in plugin_settings.values() for s in group for name in s.names}
    declared |= {name for s in CLIENT_SETTINGS for name in s.names}
    named = set(re.findall(r"`([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)(?:=[^`]*)?`", README.read_text()))
    unknown = named - declared - NOT_OURS
    assert not unknown, f"the README names variables nobody declares: {sorted(unknown)}"


def test_every_core_setting_is_used():
    code = "\n".join(p.read_text() for p in python_files())  # a field is declared as `name: type = env(...)`
    unused = [f.name for f in Settings.__dataclass_fields__.values()
              if not re.search(rf"\.{f.name}\b", code)]
    assert not unused, f"declared but never used: {unused}"


def test_every_plugin_setting_is_used_by_its_plugin(plugin_settings):
    unused = []
    for plugin, package in builtin_plugins().items():
        declared = plugin_settings.get(plugin, ())
        if not declared:
            continue
        module = importlib.import_module(f"{package.name}.settings")
        code = "\n".join(p.read_text() for p in package.rglob("*.py") if p.name != "settings.py")
        for setting in declared:
            names = [n for n, value in vars(module).items() if value is setting]
            if not any(re.search(rf"\b{n}\b", code) for n in names):
                unused.append(setting.name)
    assert not unused, f"declared by a plugin but never read: {unused}"


def test_every_client_setting_is_read_by_the_job_commands():
    code = (ROOT / "render_core" / "client" / "commands.py").read_text()
    unused = [s.name for s in CLIENT_SETTINGS
              if not any(re.search(rf"\b{n}\.read\(", code) for n, v in vars(client_settings).items() if v is s)]
    assert not unused, f"declared for the client but never read: {unused}"
