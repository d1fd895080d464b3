"""The one place a refused login-endpoint request becomes an HTTP answer (status, JSON body,
``Cache-Control: no-store``, ``Retry-After`` on every 503, the kinds' ``WWW-Authenticate``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from services.login.errors import EVENT_LOG_UNREACHABLE, RETRY_AFTER_S, OAuthError, Unavailable
from services.login.events import PublishFailed
from services.login.responses import json_response


async def _oauth_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, OAuthError)
    headers = {"Cache-Control": "no-store", **exc.headers}
    if exc.status == 503:
        headers["Retry-After"] = RETRY_AFTER_S
    body = {"error": exc.error, "error_description": exc.description}
    return json_response(body, exc.status, headers)


async def _publish_failed(request: Request, _exc: Exception) -> Response:
    # An event the broker did not take was never promised to anyone: the client retries.
    return await _oauth_error(request, Unavailable(EVENT_LOG_UNREACHABLE))


async def _http_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    error = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "invalid_request")
    return json_response({"error": error}, exc.status_code, dict(exc.headers or {}))


HANDLERS: dict[type[Exception], Callable[[Request, Exception], Awaitable[Response]]] = {
    OAuthError: _oauth_error,
    PublishFailed: _publish_failed,
    HTTPException: _http_error,
}


def install_error_handlers(app: FastAPI) -> None:
    """Register every mapping of ``HANDLERS`` on ``app``."""
    for kind, handler in HANDLERS.items():
        app.add_exception_handler(kind, handler)
