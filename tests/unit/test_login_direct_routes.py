"""``services.login.deps.DirectRoutes`` answers its routes exactly as FastAPI's own dispatch of the
same route body would: same status, body and headers for an answer, a mapped error, an unmapped
error and a method the route does not take, and the same route in the scope for metrics."""

from __future__ import annotations

from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from schemas.settings import Settings
from services.login.answers import install_error_handlers
from services.login.app import create_app
from services.login.deps import DirectRoutes, Handler, provide
from services.login.errors import OAuthError
from services.login.responses import json_response


class Greeter:
    def __init__(self, greeting: str) -> None:
        self.greeting = greeting


class Missing:
    """A part nobody registers."""


GreeterDep = Annotated[Greeter, Depends(provide(Greeter))]
MissingDep = Annotated[Missing, Depends(provide(Missing))]


async def answer_greeting(request: Request, greeter: Greeter) -> Response:
    name = request.query_params.get("name", "")
    if name == "refused":
        raise OAuthError("invalid_request", "refused on purpose")
    if name == "broken":
        raise RuntimeError("a bug")
    return json_response({"hello": name, "with": greeter.greeting}, headers={"X-Kind": "greet"})


async def answer_missing(_request: Request, missing: Missing) -> Response:
    return json_response({"never": repr(missing)})


def _app(direct: bool, seen: list[str]) -> FastAPI:
    router = APIRouter()

    @router.post("/greet")
    async def greet(request: Request, greeter: GreeterDep) -> Response:
        return await answer_greeting(request, greeter)

    @router.post("/missing")
    async def missing(request: Request, part: MissingDep) -> Response:
        return await answer_missing(request, part)

    app = FastAPI()
    app.include_router(router)
    install_error_handlers(app)
    app.state.parts = {Greeter: Greeter("hi")}
    if direct:
        routes: dict[tuple[str, str], tuple[Handler, tuple[type, ...]]] = {
            ("POST", "/greet"): (answer_greeting, (Greeter,)),
            ("POST", "/missing"): (answer_missing, (Missing,)),
        }
        app.add_middleware(DirectRoutes, routes=routes, api=app, router=router)
    app.add_middleware(_RouteSeen, seen=seen)
    return app


class _RouteSeen:
    """Records the route path each request's scope carries afterwards (what the access line and
    the latency metric are labelled with), and turns an escaped error into a 599 answer."""

    def __init__(self, app: ASGIApp, seen: list[str]) -> None:
        self.app = app
        self.seen = seen

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        except Exception as exc:
            self.seen.append(f"escaped {type(exc).__name__}")
            await Response(b"", 599)(scope, receive, send)
            return
        if scope["type"] == "http":
            self.seen.append(getattr(scope.get("route"), "path", "unmatched"))


async def _exchange(app: FastAPI, method: str, url: str) -> tuple[int, bytes, dict[str, Any]]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://login") as client:
        answer = await client.request(method, url)
    return answer.status_code, answer.content, dict(answer.headers)


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("POST", "/greet?name=ada"),
        ("POST", "/greet?name=refused"),
        ("POST", "/greet?name=broken"),
        ("GET", "/greet"),
        ("POST", "/missing"),
        ("POST", "/greet/"),
    ],
)
async def test_direct_dispatch_answers_as_fastapi_does(method: str, url: str) -> None:
    seen_direct: list[str] = []
    seen_fastapi: list[str] = []
    direct = await _exchange(_app(True, seen_direct), method, url)
    through_fastapi = await _exchange(_app(False, seen_fastapi), method, url)
    assert direct == through_fastapi
    assert seen_direct == seen_fastapi


async def test_a_direct_answer_names_its_route_and_uses_the_registered_part() -> None:
    seen: list[str] = []
    status, body, headers = await _exchange(_app(True, seen), "POST", "/greet?name=ada")
    assert (status, body) == (200, b'{"hello":"ada","with":"hi"}')
    assert headers["x-kind"] == "greet"
    assert seen == ["/greet"]


def test_a_direct_route_must_exist_on_the_router() -> None:
    router = APIRouter()
    app = FastAPI()
    routes: dict[tuple[str, str], tuple[Handler, tuple[type, ...]]]
    routes = {("POST", "/nowhere"): (answer_greeting, (Greeter,))}
    with pytest.raises(LookupError, match="/nowhere"):
        DirectRoutes(app, routes=routes, api=app, router=router)


@pytest.mark.parametrize("path", ["/oauth2/introspect", "/oauth2/token"])
async def test_the_login_app_keeps_its_header_limit_and_request_context_on_direct_routes(
    path: str,
) -> None:
    app = create_app(Settings())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://login") as client:
        too_big = await client.post(path, headers={"X-Filler": "a" * 10_000})
        # No wiring registered: the route's part is missing, and the last resort answers.
        unwired = await client.post(path, headers={"X-Request-ID": "r-1"})
    assert too_big.status_code == 431
    assert too_big.json()["error"] == "invalid_request"
    assert (unwired.status_code, unwired.json()) == (500, {"error": "server_error"})
    assert unwired.headers["x-request-id"] == "r-1"
