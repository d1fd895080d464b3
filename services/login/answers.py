"""The one place a refused login-endpoint request becomes an HTTP answer (status, JSON body,
``Cache-Control: no-store``, ``Retry-After`` on every 503, the kinds' ``WWW-Authenticate``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Literal

from fastapi import FastAPI, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema
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


# -- issue 12: the answers' shapes, as /openapi.json declares them ------------------------------
# Models for the document only: handlers keep serializing with orjson (``responses.py``), and the
# schemathesis test checks that what they send fits these shapes.


class OAuthErrorBody(BaseModel):
    """Every refused request (RFC 6749 §5.2): ``error`` code and, except for 404/405 and the
    last-resort mapping, a human-readable ``error_description``."""

    model_config = ConfigDict(title="OAuthError")

    error: str
    error_description: SkipJsonSchema[None] | str = None


class TokenAnswer(BaseModel):
    """A successful token response (RFC 6749 §5.1); ``refresh_token`` is absent for
    ``client_credentials`` (RFC 6749 §4.4.3), ``scope`` when the token has none."""

    access_token: str
    token_type: Literal["Bearer"]
    expires_in: int = Field(description="seconds until the access token expires")
    refresh_token: SkipJsonSchema[None] | str = None
    scope: SkipJsonSchema[None] | str = None


class IntrospectionAnswer(BaseModel):
    """RFC 7662 §2.2: ``{"active": false}`` for any token that is not usable, else the token's
    claims (times in seconds since the epoch) and ``token_type: Bearer``."""

    model_config = ConfigDict(extra="allow")

    active: bool
    token_type: SkipJsonSchema[None] | Literal["Bearer"] = None
    scope: SkipJsonSchema[None] | str = None
    client_id: SkipJsonSchema[None] | str = None
    sub: SkipJsonSchema[None] | str = None
    aud: SkipJsonSchema[None] | str | list[str] = None
    iss: SkipJsonSchema[None] | str = None
    exp: SkipJsonSchema[None] | int = None
    iat: SkipJsonSchema[None] | int = None
    jti: SkipJsonSchema[None] | str = None
    sid: SkipJsonSchema[None] | str = None
    region: SkipJsonSchema[None] | str = None


class PublishedJwk(BaseModel):
    """One public key (RFC 7517 §4) plus the ``region`` that publishes it and the ``iss`` its
    tokens carry (``services.login.jwks``)."""

    model_config = ConfigDict(extra="allow")

    kty: str
    kid: str
    alg: str
    use: Literal["sig"]
    region: str
    iss: str


class JwkSet(BaseModel):
    """RFC 7517 §5."""

    keys: list[PublishedJwk]


class ServerMetadata(BaseModel):
    """RFC 8414 §2 (``services.login.metadata``); members beyond these may be added."""

    model_config = ConfigDict(extra="allow")

    issuer: str
    token_endpoint: str
    introspection_endpoint: str
    revocation_endpoint: str
    jwks_uri: str
    grant_types_supported: list[str]
    response_types_supported: list[str]
    token_endpoint_auth_methods_supported: list[str]
    scopes_supported: SkipJsonSchema[None] | list[str] = None


class Liveness(BaseModel):
    status: Literal["ok"]


class ReadinessCheck(BaseModel):
    ok: bool
    error: SkipJsonSchema[None] | str = None


class EmergencyChannelState(BaseModel):
    """The emergency login channel of this process: open while rows are pending or the log is
    unreachable; pending rows and the oldest one's age (s)."""

    open: bool
    depth: int
    oldest_age_s: float


class ReadinessAnswer(BaseModel):
    """``ready`` (200) when the broker, Redis, Postgres and the projector answer; ``degraded``
    (200) while logins are answered through the emergency channel; else ``not_ready`` (503),
    with each check's outcome."""

    status: Literal["ready", "degraded", "not_ready"]
    checks: dict[str, ReadinessCheck]
    emergency_channel: EmergencyChannelState
