"""Throwaway plugin distributions: a module and a ``.dist-info`` with entry points, in a folder on sys.path.

That is what ``pip install`` leaves behind, so the registry finds them exactly as it finds an
installed plugin, without touching the virtualenv.
"""

from __future__ import annotations

from pathlib import Path


def write_distribution(root: Path, name: str, modules: dict[str, str], entry_points: dict[str, str],
                       version: str = "0.0.1") -> Path:
    """Write distribution ``name`` into ``root``: each module's source, and entry points
    ``{entry point name: "module"}`` in the ``c3_render.plugins`` group; returns ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    for module, source in modules.items():
        (root / f"{module}.py").write_text(source)
    info = root / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    lines = "".join(f"{ep} = {target}\n" for ep, target in entry_points.items())
    (info / "entry_points.txt").write_text(f"[c3_render.plugins]\n{lines}")
    return root


def task_plugin_source(task_name: str, api_range: str | None = ">=1.0,<2", extra: str = "") -> str:
    """The source of a one-task text plugin declaring ``api_range`` (None: no declaration)."""
    declaration = "" if api_range is None else f"C3_RENDER_PLUGIN_API = {api_range!r}\n"
    return (
        "from render_core.plugin import Schema, Task, TextOutput, hookimpl\n"
        f"{declaration}{extra}\n"
        "@hookimpl\n"
        "def c3_render_tasks():\n"
        f"    return [Task({task_name!r}, Schema({{}}), lambda ctx, params: TextOutput('ok'), output='text')]\n"
    )
