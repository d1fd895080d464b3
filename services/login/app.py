"""``create_app(settings)``: the login endpoint's ASGI app, its lifespan, its middleware and the
last-resort answer to an error nothing mapped (the mapping itself: ``services.login.errors``)."""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import orjson
from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from schemas.settings import Settings
from services.login.answers import install_error_handlers
from services.login.deps import DirectRoutes, parts_of
from services.login.errors import OAuthError
from services.login.headers import HeaderLimit
from services.login.logs import request_id_var
from services.login.metrics import Metrics
from services.login.openapi import openapi_document
from services.login.routes import DIRECT_ROUTES, router
from services.login.wiring import LoginWiring, build_wiring

log = logging.getLogger("authplane.login")
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID_HEADER_RAW = REQUEST_ID_HEADER.lower().encode()
OPENAPI_PATH = "/openapi.json"
QUIET_ROUTES = frozenset(
    {
        "/oauth2/introspect",
        "/.well-known/jwks.json",
        "/.well-known/oauth-authorization-server",
        OPENAPI_PATH,
        "/healthz",
        "/readyz",
        "/metrics",
    }
)
"""Read-only routes polled at high rates (resource servers, probes, scrapers): their successful
answers get a DEBUG access line, not INFO. Every error answer on them, and every request to a
route that changes state (grants, logout, revocation, password change), keeps its INFO line."""


def create_app(settings: Settings, wiring: LoginWiring | None = None) -> FastAPI:
    """The app; with ``wiring`` given (``__main__``, tests), it is used as is and not closed by
    the app; without, the lifespan builds one from ``settings`` and closes it."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if wiring is not None:
            yield
            return
        built = await build_wiring(settings)
        app.state.parts = built.parts()
        try:
            yield
        finally:
            await built.close()

    app = LoginApp(lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=OPENAPI_PATH)
    # FastAPI's documented way to extend the generated document (the security schemes).
    app.openapi = partial(openapi_document, app)  # type: ignore[method-assign]
    if wiring is not None:
        app.state.parts = wiring.parts()  # usable at once, e.g. through httpx's ASGITransport
    app.include_router(router)
    install_error_handlers(app)
    limits = {
        "max_field_bytes": settings.max_header_bytes,
        "max_head_bytes": settings.max_request_head_bytes,
    }
    app.add_middleware(HeaderLimit, **limits)
    app.add_middleware(RequestContext)
    # The same two layers in front of the direct routes (LoginApp).
    direct = DirectRoutes(partial(FastAPI.__call__, app), DIRECT_ROUTES, app, router)
    app.direct = RequestContext(HeaderLimit(direct, **limits))
    return app


class LoginApp(FastAPI):
    """The login endpoint's FastAPI app. A request for one of ``DIRECT_ROUTES`` goes through
    ``direct``: the same ``RequestContext`` and ``HeaderLimit`` as every request, then
    ``DirectRoutes``, without FastAPI's outer layers (its OpenTelemetry check per request,
    ``ServerErrorMiddleware``, exception telemetry, the body-limit wrapper; ~6 % of an
    introspection's CPU by py-spy). Nothing there applies to these routes: ``RequestContext``
    already answers every exception, no app body limit is set, and this app enables no
    OpenTelemetry. Every other request goes through FastAPI as usual."""

    direct: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            self.direct is not None
            and scope["type"] == "http"
            and (scope["method"], scope["path"]) in DIRECT_ROUTES
            and not scope.get("root_path")
        ):
            scope["app"] = self
            await self.direct(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


class RequestContext:
    """Request id, latency metric, one access-log line (DEBUG for a successful answer on a
    ``QUIET_ROUTES`` route, else INFO), and the last-resort error mapping."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        token = request_id_var.set(request_id)
        state: dict[str, Any] = {"status": 500, "started": False}
        started = time.perf_counter()
        id_header = (_REQUEST_ID_HEADER_RAW, request_id.encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["status"], state["started"] = message["status"], True
                message = {**message, "headers": [*message.get("headers", ()), id_header]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            await _last_resort(exc, state, send_with_id)
        finally:
            self._observe(scope, state["status"], time.perf_counter() - started)
            request_id_var.reset(token)

    def _observe(self, scope: Scope, status: int, seconds: float) -> None:
        route = scope.get("route")
        path = getattr(route, "path", "unmatched")
        metrics = parts_of(scope.get("app")).get(Metrics)
        if isinstance(metrics, Metrics):
            metrics.observe_request(path, scope["method"], status, seconds)
        level = logging.DEBUG if status < 400 and path in QUIET_ROUTES else logging.INFO
        if log.isEnabledFor(level):
            extra = {
                "method": scope["method"],
                "route": path,
                "status": status,
                "ms": seconds * 1e3,
            }
            log.log(level, "request", extra=extra)


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            candidate = bytes(value).decode("latin-1")
            if _REQUEST_ID.fullmatch(candidate):
                return candidate
    # 128 random bits as 32 hex digits, like uuid4().hex without building a UUID per request.
    return os.urandom(16).hex()


async def _last_resort(exc: Exception, state: dict[str, Any], send: Send) -> None:
    """Malformed input that slipped past the parsers is the client's fault (400); anything else
    is our bug (500). Either way the client gets JSON, never a traceback."""
    if isinstance(exc, UnicodeError | ValueError) and not isinstance(exc, OAuthError):
        status, body = 400, {"error": "invalid_request"}
        log.warning("unexpected malformed input", extra={"exc_type": exc.__class__.__name__})
    else:
        status, body = 500, {"error": "server_error"}
        log.error("unhandled error", exc_info=exc)
    if state["started"]:
        return
    payload = orjson.dumps(body)
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(payload))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
