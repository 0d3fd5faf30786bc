"""The harness is for tests: no module of the service or of a built-in plugin imports it."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_no_production_module_imports_the_harness():
    sources = [*ROOT.glob("render_core/**/*.py"), *ROOT.glob("render_api/**/*.py"), *ROOT.glob("plugins/*/c3_*/*.py")]
    sources = [path for path in sources if "testing" not in path.relative_to(ROOT).parts]
    assert len(sources) > 50
    offenders = [str(path.relative_to(ROOT)) for path in sources
                 if any(name == "render_core.testing" or name.startswith("render_core.testing.")
                        for name in imported_modules(path))]
    assert offenders == []
