"""FastAPI dependencies: how a route receives the one part it needs, without knowing who built
it. The composition root (``services.login.wiring``) registers its parts on ``app.state.parts``
(type -> instance); ``provide(T)`` hands a route the instance of ``T``. The arrows point down:
routes import the parts' types, never the root."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import Request

T = TypeVar("T")


def parts_of(app: Any) -> dict[type, object]:
    """The parts registered on ``app`` ({} before the composition root ran)."""
    parts: dict[type, object] = getattr(getattr(app, "state", None), "parts", None) or {}
    return parts


def provide(kind: type[T]) -> Callable[[Request], T]:
    """A dependency returning the registered instance of ``kind``; raises ``LookupError`` when
    none is (a wiring bug: the route would be answered 500 by the last-resort mapping)."""

    def dependency(request: Request) -> T:
        part = parts_of(request.app).get(kind)
        if not isinstance(part, kind):
            raise LookupError(f"no {kind.__name__} is wired into this app")
        return part

    dependency.__name__ = f"provide_{kind.__name__}"
    return dependency
