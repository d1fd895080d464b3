"""Every process builds its Redis clients through ``schemas.redis_client.make_redis``, so every
client has the reconnect-and-retry policy (tests/integration/test_redis_reconnect.py shows it)."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FACTORY = REPO / "schemas" / "redis_client.py"


def _builds_a_redis_client(node: ast.Call) -> bool:
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    owner = func.value if isinstance(func, ast.Attribute) else None
    owner_name = getattr(owner, "id", getattr(owner, "attr", ""))
    return name in ("Redis", "StrictRedis") or (name == "from_url" and "edis" in owner_name)


def test_no_process_builds_a_redis_client_outside_the_factory() -> None:
    """Any other construction would miss the retry policy: the kind of fault, not the instance."""
    offenders = []
    for package in ("schemas", "streams", "services"):
        for path in sorted((REPO / package).rglob("*.py")):
            if path == FACTORY:
                continue
            tree = ast.parse(path.read_text(), filename=str(path))
            offenders += [
                f"{path.relative_to(REPO)}:{node.lineno}"
                for node in ast.walk(tree)
                if isinstance(node, ast.Call) and _builds_a_redis_client(node)
            ]
    assert offenders == []
