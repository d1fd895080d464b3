"""FastAPI dependencies: how a route receives the one part it needs, without knowing who built
it. The composition root (``services.login.wiring``) registers its parts on ``app.state.parts``
(type -> instance); ``provide(T)`` hands a route the instance of ``T``. The arrows point down:
routes import the parts' types, never the root."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Receive, Scope, Send

T = TypeVar("T")


def parts_of(app: Any) -> dict[type, object]:
    """The parts registered on ``app`` ({} before the composition root ran)."""
    parts: dict[type, object] = getattr(getattr(app, "state", None), "parts", None) or {}
    return parts


def provide(kind: type[T]) -> Callable[[Request], Awaitable[T]]:
    """A dependency returning the registered instance of ``kind``; raises ``LookupError`` when
    none is (a wiring bug: the route would be answered 500 by the last-resort mapping).

    It is a coroutine function on purpose: FastAPI runs a plain-function dependency in its thread
    pool, a thread hop per dependency per request (measured: introspection 800 -> 1,429 µs of app
    CPU with two such dependencies)."""

    async def dependency(request: Request) -> T:
        part = parts_of(request.app).get(kind)
        if not isinstance(part, kind):
            raise LookupError(f"no {kind.__name__} is wired into this app")
        return part

    dependency.__name__ = f"provide_{kind.__name__}"
    return dependency


Handler = Callable[..., Awaitable[Response]]
"""A route body called with the ``Request`` and then one registered part per declared type."""


class DirectRoutes:
    """ASGI layer answering the hottest routes (``routes``: ``(method, path)`` -> the route body
    and the part types it takes) without FastAPI's routing, dependency solving and exception
    middleware underneath: those cost ~20 % of an introspection's CPU (py-spy, issue 13), and
    these routes take no parameter FastAPI would parse or validate.

    The answer is the same as through FastAPI: the body is the one the FastAPI route calls, the
    parts are the ones ``provide`` hands it, an exception is mapped by the app's own handler for
    its class (``app.exception_handlers``, first match along the class's MRO, as Starlette's
    ``ExceptionMiddleware`` does), and anything unmapped propagates to the layer above. The
    matched ``APIRoute`` of ``router`` is put in ``scope["route"]`` as FastAPI's router does,
    so metrics and access lines name the route. Any other method or path goes down to FastAPI
    unchanged."""

    def __init__(
        self,
        app: ASGIApp,
        routes: Mapping[tuple[str, str], tuple[Handler, tuple[type, ...]]],
        api: FastAPI,
        router: APIRouter,
    ) -> None:
        self.app = app
        self.api = api
        self.routes = {
            key: (_api_route(router, *key), handler, kinds)
            for key, (handler, kinds) in routes.items()
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        hit = None
        if scope["type"] == "http" and not scope.get("root_path"):
            hit = self.routes.get((scope["method"], scope["path"]))
        if hit is None:
            await self.app(scope, receive, send)
            return
        route, handler, kinds = hit
        scope["route"] = route
        request = Request(scope, receive, send)
        try:
            parts = parts_of(self.api)
            response = await handler(request, *(_part(parts, kind) for kind in kinds))
        except Exception as exc:
            mapped = _handler_for(self.api.exception_handlers, exc)
            if mapped is None:
                raise
            response = await mapped(request, exc)
        await response(scope, receive, send)


def _part(parts: dict[type, object], kind: type[T]) -> T:
    part = parts.get(kind)
    if not isinstance(part, kind):
        raise LookupError(f"no {kind.__name__} is wired into this app")
    return part


def _api_route(router: APIRouter, method: str, path: str) -> APIRoute:
    """The route FastAPI's router would put in ``scope["route"]`` (the one declared on
    ``router``, included into the app without a prefix)."""
    for route in router.routes:
        if isinstance(route, APIRoute) and route.path == path and method in (route.methods or ()):
            return route
    raise LookupError(f"no {method} {path} route to answer directly")


def _handler_for(handlers: Mapping[Any, Any], exc: Exception) -> Handler | None:
    for kind in type(exc).__mro__:
        if kind is not Exception and kind in handlers:
            handler: Handler = handlers[kind]
            return handler
    return None
