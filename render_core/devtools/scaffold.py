"""``c3-render plugins new NAME [--gpu WORKLOAD]``: write a task plugin package that works at once.

The package (``c3-render-NAME/``) holds setup.cfg with the ``c3_render.plugins``
entry point, pyproject.toml, the task's module, schema and entry point, a README
and tests driven by :mod:`render_core.testing`; its tests pass as written and,
once ``pip install -e``'d, the task has its endpoint, OpenAPI entry, metrics and
``c3-render plugins`` line with no change to the core.
"""

from __future__ import annotations

import re
from pathlib import Path

from render_core.sdk.api_version import PLUGIN_API_VERSION
from render_core.sdk.task import TASK_NAME

from . import plugin_template

#: A GPU workload type as providers know them, e.g. ``media:fast`` or ``ollama_webui:fast``.
WORKLOAD = re.compile(r"^[a-z0-9][a-z0-9_.-]*(:[a-z0-9][a-z0-9_.-]*)?$")


class ScaffoldError(ValueError):
    """The name or workload is not usable, or the target folder exists."""


def supported_range(api_version: str = PLUGIN_API_VERSION) -> str:
    """The range a new plugin declares: this API version up to the next major one, e.g. ``>=1.0,<2``."""
    major = int(api_version.split(".")[0])
    return f">={api_version},<{major + 1}"


def write_plugin(name: str, directory: Path | str = ".", workload: str | None = None) -> Path:
    """Write the package for task ``name`` under ``directory``; returns its folder.

    ``workload`` (e.g. ``media:fast``) makes the task lease a GPU node and call it.
    """
    if not TASK_NAME.match(name):
        raise ScaffoldError(f"{name!r} cannot be a task name: use lowercase letters, digits, '-' or '_', "
                            f"starting with a letter, at most 40 characters")
    if workload is not None and not WORKLOAD.match(workload):
        raise ScaffoldError(f"--gpu {workload!r} is not a workload type such as 'media:fast'")
    package = "c3_render_" + name.replace("-", "_")
    distribution = f"c3-render-{name}"
    root = Path(directory) / distribution
    if root.exists():
        raise ScaffoldError(f"{root} already exists; choose another name or --directory")
    files = {**plugin_template.FILES, **(plugin_template.GPU_FILES if workload else {})}
    values = {"__DISTRIBUTION__": distribution, "__PACKAGE__": package, "__NAME__": name,
              "__WORKLOAD__": workload or "", "__API__": supported_range()}
    for relative, template in files.items():
        path = root / _fill(relative, values)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_fill(template, values), encoding="utf-8")
    return root


def _fill(template: str, values: dict[str, str]) -> str:
    for placeholder, value in values.items():
        template = template.replace(placeholder, value)
    return template
