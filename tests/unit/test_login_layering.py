"""The login endpoint's composition root stands on top: only the app and the process entry point
import it, so every use case and route receives its ports instead of reaching into the root."""

from __future__ import annotations

import ast
from pathlib import Path

LOGIN = Path(__file__).resolve().parents[2] / "services" / "login"
ROOT = "services.login.wiring"
ALLOWED = {"app.py", "__main__.py"}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return found


def test_only_the_app_and_main_import_the_composition_root() -> None:
    assert (LOGIN / "wiring.py").is_file()
    importers = {p.name for p in LOGIN.glob("*.py") if ROOT in imported_modules(p)}
    assert importers == ALLOWED


def test_no_login_module_imports_another_process_wiring() -> None:
    # The grab-bag it replaced must not come back under another name.
    assert not (LOGIN / "bootstrap.py").exists()
    offenders = {
        p.name
        for p in LOGIN.glob("*.py")
        if any(m.startswith("services.login.bootstrap") for m in imported_modules(p))
    }
    assert offenders == set()
