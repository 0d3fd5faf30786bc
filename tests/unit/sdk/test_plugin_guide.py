"""docs/plugins.md: every public name and hook has a reference entry, and the tutorial works as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import render_core.plugin
import render_core.testing
from render_core.devtools.scaffold import write_plugin
from render_core.sdk.plugin_loader import hook_names

GUIDE = Path(__file__).resolve().parents[3] / "docs" / "plugins.md"


def headings() -> list[str]:
    text = GUIDE.read_text()
    reference = text[text.index("\n## Reference"):]
    return [line for line in reference.splitlines() if line.startswith("#")]


def documented(name: str) -> bool:
    return any(re.search(rf"`{re.escape(name)}(\(.*?\))?`", heading) for heading in headings())


@pytest.mark.parametrize("name", sorted({*render_core.plugin.__all__, *hook_names(), *render_core.testing.__all__}))
def test_every_public_name_and_hook_has_a_reference_entry(name):
    assert documented(name), f"docs/plugins.md has no reference heading for `{name}`"


def test_an_undocumented_name_would_be_caught():
    assert not documented("NotAPublicName") and documented("TaskContext") and documented("c3_render_tasks")


def tutorial_files() -> dict[str, str]:
    """The tutorial's code blocks that start with a ``# <path>`` line: {path: source}."""
    text = GUIDE.read_text()
    tutorial = text[:text.index("\n## Reference")]
    files = {}
    for block in re.findall(r"```python\n(.*?)```", tutorial, re.S):
        first, _, rest = block.partition("\n")
        if first.startswith("# ") and first.endswith(".py"):
            files[first[2:]] = rest
    return files


def test_the_tutorial_works_when_followed_literally(tmp_path):
    files = tutorial_files()
    assert set(files) == {"c3_render_wordcount/schema.py", "c3_render_wordcount/task.py",
                          "c3_render_wordcount/plugin.py", "tests/test_c3_render_wordcount.py"}
    root = write_plugin("wordcount", tmp_path)
    for relative, source in files.items():
        assert (root / relative).is_file(), f"the tutorial replaces {relative}, which the scaffold does not write"
        (root / relative).write_text(source)
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=root,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    text = GUIDE.read_text()
    claimed = re.findall(r"(\d+) passed in", text[:text.index("\n## Reference")])
    assert claimed and f"{claimed[-1]} passed" in result.stdout  # the count the tutorial shows
