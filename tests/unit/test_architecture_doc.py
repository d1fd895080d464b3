"""docs/architecture.md stays true: every `path` and `path::symbol` it names exists, every route
the login app serves is in it, and every room under services/ is described.

Each test collects every stale entry before failing, so one run lists all that a move broke.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

from schemas import names
from schemas.events import REGISTRY
from schemas.settings import Settings
from services.login.app import create_app

ROOT = Path(__file__).parents[2]
DOC = ROOT / "docs" / "architecture.md"
CODE_SPAN = re.compile(r"`([^`\n]+)`")
REFERENCE = re.compile(r"(?P<path>[\w./-]+?)(?:::(?P<symbol>[\w.]+))?")
TOP_LEVEL = frozenset(p.name for p in ROOT.iterdir() if not p.name.startswith("."))


def _spans() -> list[str]:
    return CODE_SPAN.findall(DOC.read_text())


def _references() -> list[tuple[str, str | None]]:
    """``(path, symbol or None)`` of every code span that names a file or folder of the repo."""
    out = []
    for span in _spans():
        match = REFERENCE.fullmatch(span)
        if match is None:
            continue
        path, symbol = match["path"], match["symbol"]
        if symbol is not None or path.split("/")[0] in TOP_LEVEL:
            out.append((path, symbol))
    return out


@cache
def _defined(path: Path) -> frozenset[str]:
    """Names a module defines at its top level (functions, classes, assignments, also inside a
    top-level ``if``/``try``), and ``Class.member`` for what each class body defines."""
    names: set[str] = set()
    for node in _top_level(ast.parse(path.read_text(), filename=str(path)).body):
        for name in _names_of(node):
            names.add(name)
            if isinstance(node, ast.ClassDef):
                names.update(f"{name}.{member}" for n in node.body for member in _names_of(n))
    return frozenset(names)


def _top_level(body: list[ast.stmt]) -> list[ast.stmt]:
    out: list[ast.stmt] = []
    for node in body:
        out.append(node)
        if isinstance(node, ast.If | ast.Try):
            out.extend(_top_level([*node.body, *node.orelse]))
    return out


def _names_of(node: ast.stmt) -> list[str]:
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return [node.name]
    if isinstance(node, ast.Assign):
        return [t.id for t in node.targets if isinstance(t, ast.Name)]
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return [node.target.id]
    return []


def _stale(path: str, symbol: str | None) -> str | None:
    file = ROOT / path
    if not file.exists():
        return f"{path}: no such file or folder"
    if symbol is None:
        return None
    if file.suffix != ".py" or not file.is_file():
        return f"{path}::{symbol}: symbols can only be looked up in a .py file"
    if symbol not in _defined(file):
        return f"{path}::{symbol}: not defined in {path}"
    return None


def test_every_path_and_symbol_in_the_doc_exists() -> None:
    references = _references()
    assert len(references) > 50, "the doc's tables are gone or no longer parse"
    stale = sorted({why for ref in references if (why := _stale(*ref)) is not None})
    assert not stale, "stale entries in docs/architecture.md:\n" + "\n".join(stale)


def _login_routes() -> list[str]:
    """``METHOD /path`` of every route the login app registers, read from the OpenAPI document
    FastAPI builds from them (the app does not serve it, but still builds it on request)."""
    paths = create_app(Settings()).openapi()["paths"]
    return sorted(f"{method.upper()} {path}" for path, ops in paths.items() for method in ops)


def test_every_route_of_the_login_app_is_in_the_doc() -> None:
    spans = set(_spans())
    routes = _login_routes()
    assert routes, "the login app serves no routes: the test no longer finds them"
    missing = [route for route in routes if route not in spans]
    assert not missing, "routes missing from docs/architecture.md:\n" + "\n".join(missing)


def test_every_room_under_services_is_described() -> None:
    spans = set(_spans())
    rooms = sorted(
        p.name for p in (ROOT / "services").iterdir() if p.is_dir() and any(p.glob("*.py"))
    )
    assert rooms
    missing = [f"services/{room}/" for room in rooms if f"services/{room}/" not in spans]
    assert not missing, "rooms missing from docs/architecture.md:\n" + "\n".join(missing)


def test_every_event_type_table_and_redis_key_family_is_in_the_doc() -> None:
    """A new event type, table or key family lands with its row in the projections table."""
    spans = _spans()
    text = " ".join(spans)
    wanted = sorted({event_type for event_type, _ in REGISTRY})
    wanted += [f"schemas/tables.py::{name}" for name in _table_variables()]
    missing = [item for item in wanted if item not in spans]
    missing += [f"{p}* (a Redis key)" for p in names.REDIS_KEY_PREFIXES if p not in text]
    assert not missing, "missing from docs/architecture.md:\n" + "\n".join(missing)


def _table_variables() -> list[str]:
    module = ROOT / "schemas" / "tables.py"
    return sorted(
        node.targets[0].id
        for node in ast.parse(module.read_text()).body
        if isinstance(node, ast.Assign)
        and isinstance(node.targets[0], ast.Name)
        and isinstance(node.value, ast.Call)
        and getattr(node.value.func, "id", "") == "Table"
    )
