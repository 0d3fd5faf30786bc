"""``c3-render plugins new``: the written package passes its own tests as it is."""

from __future__ import annotations

import subprocess
import sys

import pytest

from render_core.cli import main
from render_core.devtools.scaffold import ScaffoldError, supported_range, write_plugin
from render_core.plugin import PLUGIN_API_VERSION
from render_core.sdk.api_version import incompatibility


def run_its_tests(root) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=root,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("workload", [None, "media:fast"])
def test_the_package_passes_its_own_tests_at_once(tmp_path, workload):
    root = write_plugin("word-shout", tmp_path, workload=workload)
    assert root == tmp_path / "c3-render-word-shout"
    assert {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()} == {
        "setup.cfg", "pyproject.toml", "README.md", "c3_render_word_shout/__init__.py",
        "c3_render_word_shout/plugin.py", "c3_render_word_shout/schema.py", "c3_render_word_shout/task.py",
        "tests/test_c3_render_word_shout.py"}
    setup = (root / "setup.cfg").read_text()
    assert "c3_render.plugins =\n    word-shout = c3_render_word_shout.plugin" in setup
    plugin = (root / "c3_render_word_shout/plugin.py").read_text()
    assert f'C3_RENDER_PLUGIN_API = "{supported_range()}"' in plugin
    assert ('workload="media:fast"' in plugin) == (workload is not None)
    result = run_its_tests(root)
    assert result.returncode == 0, result.stdout + result.stderr
    assert " passed" in result.stdout and "failed" not in result.stdout


def test_its_tests_can_fail(tmp_path):
    root = write_plugin("shout", tmp_path)
    task = root / "c3_render_shout/task.py"
    task.write_text(task.read_text().replace("text.upper()", "text.lower()"))
    result = run_its_tests(root)
    assert result.returncode == 1 and "test_text_is_upper_cased" in result.stdout


def test_the_declared_range_holds_this_api_and_not_the_next_major():
    declared = supported_range()
    assert declared == f">={PLUGIN_API_VERSION},<{int(PLUGIN_API_VERSION.split('.')[0]) + 1}"

    class Plugin:
        C3_RENDER_PLUGIN_API = declared

    assert incompatibility(Plugin) is None and incompatibility(Plugin, "99.0") is not None


@pytest.mark.parametrize("name, workload, message", [
    ("Shout", None, "cannot be a task name"),
    ("1shout", None, "cannot be a task name"),
    ("shout", "media fast", "is not a workload type"),
])
def test_unusable_names_are_refused(tmp_path, name, workload, message):
    with pytest.raises(ScaffoldError, match=message):
        write_plugin(name, tmp_path, workload=workload)
    assert not list(tmp_path.iterdir())


def test_an_existing_folder_is_never_overwritten(tmp_path, capsys):
    (tmp_path / "c3-render-shout").mkdir()
    assert main(["plugins", "new", "shout", "--directory", str(tmp_path)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert not list((tmp_path / "c3-render-shout").iterdir())


def test_the_command_writes_the_package(tmp_path, capsys):
    assert main(["plugins", "new", "shout", "--gpu", "media:fast", "--directory", str(tmp_path)]) == 0
    assert (tmp_path / "c3-render-shout/c3_render_shout/task.py").is_file()
    assert "python -m pytest" in capsys.readouterr().out
