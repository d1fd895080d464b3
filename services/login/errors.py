"""What can go wrong in a login-endpoint request, and the one place it becomes an HTTP answer.

Use cases raise ``OAuthError`` (an RFC 6749 §5.2 error: ``error``, ``error_description``, a status
and extra headers) or one of its kinds below (``Unavailable`` 503 "try again", ``InvalidBearer``
and ``ClientAuthError`` 401 with their ``WWW-Authenticate`` challenge, ``LockedOut`` 429),
or let ``PublishFailed`` (the broker did not acknowledge) and Starlette's ``HTTPException``
through. ``install_error_handlers`` maps each to its response; nothing else builds error answers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from services.login.events import PublishFailed
from services.login.responses import json_response

EVENT_LOG_UNREACHABLE = "the event log is unreachable, try again"
BEARER_REALM = 'Bearer realm="authplane"'
BASIC_REALM = 'Basic realm="authplane", charset="UTF-8"'
RETRY_AFTER_S = "1"
"""Retry-After (RFC 9110 §10.2.3, seconds) of every 503: the stores and the broker recover or
time out within about that."""


class OAuthError(Exception):
    """An RFC 6749 §5.2 error response: ``error`` code, ``description`` for the
    ``error_description`` member, HTTP ``status`` (400 unless given) and extra ``headers``."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status
        self.headers: dict[str, str] = {}


class Unavailable(OAuthError):
    """503 ``temporarily_unavailable`` with Retry-After: a store or the broker did not answer,
    or what was asked about may still be on its way to this region. Nothing was promised."""

    def __init__(self, description: str) -> None:
        super().__init__("temporarily_unavailable", description, status=503)


class InvalidBearer(OAuthError):
    """401 ``invalid_token`` with the RFC 6750 §3 ``WWW-Authenticate`` challenge."""

    def __init__(self, description: str) -> None:
        super().__init__("invalid_token", description, status=401)
        self.headers = {
            "WWW-Authenticate": f'{BEARER_REALM}, error="invalid_token", '
            f'error_description="{description}"'
        }


class ClientAuthError(OAuthError):
    """401 ``invalid_client`` (RFC 6749 §5.2) with a Basic challenge (RFC 7617 §2)."""

    def __init__(self) -> None:
        super().__init__("invalid_client", "resource server authentication failed", status=401)
        self.headers = {"WWW-Authenticate": BASIC_REALM}


class LockedOut(OAuthError):
    """429 with Retry-After (``retry_after_s`` seconds); the same body whoever the username
    belongs to (or nobody)."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(
            "slow_down", "too many failed attempts; retry after the Retry-After delay", status=429
        )
        self.headers = {"Retry-After": str(retry_after_s)}


def outcome_of(exc: OAuthError | PublishFailed) -> str:
    """The metric label of a refused request: ``unavailable`` for any 503, else the error code."""
    if isinstance(exc, PublishFailed) or exc.status == 503:
        return "unavailable"
    return exc.error


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
