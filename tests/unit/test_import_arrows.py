"""The dependency arrows point one way: schemas imports nothing of ours; streams and services
import schemas and never each other; migrations import only schemas (docs/architecture.md,
"The arrows").

Every import statement counts, also one inside a function. The failure lists every wrong import.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).parents[2]
OURS = frozenset({"schemas", "streams", "services", "migrations", "bench", "tests"})
MAY_IMPORT = {
    "schemas": frozenset({"schemas"}),
    "streams": OURS - {"services", "bench", "tests"},
    "services": OURS - {"streams", "bench", "tests"},
    "migrations": frozenset({"schemas", "migrations"}),
}


def _imported_packages(path: Path) -> list[tuple[int, str]]:
    """``(line, top-level package)`` of every absolute import in the module."""
    out: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            out.extend((node.lineno, alias.name.split(".")[0]) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append((node.lineno, node.module.split(".")[0]))
    return out


def _wrong_imports(package: str) -> list[str]:
    wrong = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for line, imported in _imported_packages(path):
            if imported in OURS and imported not in MAY_IMPORT[package]:
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports {imported}")
    return wrong


def test_the_arrows_point_one_way() -> None:
    assert _imported_packages(ROOT / "streams" / "projector.py"), "the import walk finds nothing"
    wrong = [entry for package in MAY_IMPORT for entry in _wrong_imports(package)]
    assert not wrong, "imports against the arrows:\n" + "\n".join(wrong)
