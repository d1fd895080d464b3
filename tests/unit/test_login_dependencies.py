"""The login routes' dependencies run on the event loop: FastAPI runs a plain-function dependency
in its thread pool, and that thread hop per dependency per request nearly doubled the app's CPU
per introspection (800 -> 1,429 µs, bench/peers/appcpu.py) after the routes moved to Depends."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

from fastapi.routing import APIRoute

from services.login.routes import router


def _calls(dependant: Any) -> Iterator[tuple[str, Any]]:
    for sub in dependant.dependencies:
        yield getattr(sub.call, "__name__", repr(sub.call)), sub.call
        yield from _calls(sub)


def test_every_dependency_of_every_route_is_a_coroutine_function() -> None:
    routes = [r for r in router.routes if isinstance(r, APIRoute)]
    assert routes, "the login app registered no route"
    threaded = sorted(
        f"{route.path}: {name}"
        for route in routes
        for name, call in _calls(route.dependant)
        if not inspect.iscoroutinefunction(call)
    )
    assert not threaded, f"dependencies run in the thread pool: {threaded}"
