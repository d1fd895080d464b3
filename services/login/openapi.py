"""What ``/openapi.json`` says about each route: its real request body and its answers.

The handlers read their bodies themselves (strict RFC 6749 Appendix B parsing, ``forms``), so
FastAPI cannot infer them: each route's decorator takes one of the ``*_DOC`` keyword sets below
(``@router.post(path, **TOKEN_DOC)``), which declares the form fields of each request (one schema
per grant for the token endpoint), the client authentication schemes and every answer with its
headers. Declarations only: nothing here changes how a request is handled. The schemathesis test
(tests/integration/test_openapi_fuzz.py) holds the document to what the handlers do.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.responses import PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from services.login.answers import (
    IntrospectionAnswer,
    JwkSet,
    Liveness,
    OAuthErrorBody,
    ReadinessAnswer,
    ServerMetadata,
    TokenAnswer,
)
from services.login.client_auth import JWT_BEARER
from services.login.forms import FORM_MEDIA_TYPE

TITLE = "authplane login endpoint"
CLIENT_BASIC = "clientSecretBasic"
BEARER = "accessToken"
SECURITY_SCHEMES = {
    CLIENT_BASIC: {
        "type": "http",
        "scheme": "basic",
        "description": "client_secret_basic (RFC 6749 §2.3.1): client_id and client_secret, "
        "each form-urlencoded, as HTTP Basic credentials",
    },
    BEARER: {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "an access token of this service (RFC 6750 §2.1, RFC 9068)",
    },
}
CLIENT_AUTH: list[dict[str, list[str]]] = [{CLIENT_BASIC: []}, {}]
"""HTTP Basic, or the client's credentials in the body (client_secret_post, private_key_jwt,
or a public client's client_id alone): the empty alternative is "nothing in a header"."""
_NONEMPTY = Field(min_length=1)
Optional = SkipJsonSchema[None] | str


class _Form(BaseModel):
    model_config = ConfigDict(extra="allow")


class ClientCredentialsFields(_Form):
    """How a client authenticates in the body (RFC 6749 §2.3.1, RFC 7523 §2.2); at most one
    method per request, and none of these with HTTP Basic but a matching ``client_id``."""

    client_id: Optional = None
    client_secret: Optional = None
    client_assertion_type: Optional = Field(default=None, json_schema_extra={"enum": [JWT_BEARER]})
    client_assertion: Optional = None


class _GrantForm(ClientCredentialsFields):
    """What every grant may add: ``scope`` (RFC 6749 §3.3) and ``resource`` (RFC 8707 §2)."""

    scope: Optional = None
    resource: Optional = None


class PasswordGrantForm(_GrantForm):
    """RFC 6749 §4.3.2 (only for clients registered for the password grant)."""

    grant_type: Literal["password"]
    username: str = _NONEMPTY
    password: str = _NONEMPTY


class RefreshGrantForm(_GrantForm):
    """RFC 6749 §6: ``scope`` may only narrow the original scope."""

    grant_type: Literal["refresh_token"]
    refresh_token: str = _NONEMPTY


class ClientCredentialsGrantForm(_GrantForm):
    """RFC 6749 §4.4.2 (confidential clients registered for it)."""

    grant_type: Literal["client_credentials"]


class TokenForm(ClientCredentialsFields):
    """RFC 7662 §2.1 / RFC 7009 §2.1."""

    token: str = _NONEMPTY
    token_type_hint: SkipJsonSchema[None] | Literal["access_token", "refresh_token"] = None


class PasswordChangeForm(_Form):
    """The caller's current password and the new one (both PRECIS OpaqueString, RFC 8265)."""

    old_password: str = _NONEMPTY
    new_password: str = _NONEMPTY


def _schema(model: type[BaseModel]) -> dict[str, Any]:
    return model.model_json_schema(ref_template="#/components/schemas/{model}")


def _form_body(*models: type[BaseModel]) -> dict[str, Any]:
    schema = _schema(models[0]) if len(models) == 1 else {"oneOf": [_schema(m) for m in models]}
    return {"required": True, "content": {FORM_MEDIA_TYPE: {"schema": schema}}}


def _header(description: str) -> dict[str, Any]:
    return {"description": description, "required": True, "schema": {"type": "string"}}


NO_STORE_HEADERS = {"Cache-Control": _header("no-store (RFC 6749 §5.1)")}
RETRY_AFTER = {"Retry-After": _header("seconds to wait (RFC 9110 §10.2.3)")}


def _error(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "description": description,
        "model": OAuthErrorBody,
        "headers": {**NO_STORE_HEADERS, **(headers or {})},
    }


BAD_REQUEST = _error("RFC 6749 §5.2 error: malformed or refused request")
TOO_LARGE = _error("the body exceeds AUTHPLANE_MAX_BODY_BYTES")
UNAVAILABLE = _error("a store or the broker did not answer: retry", RETRY_AFTER)
LOCKED_OUT = _error("too many failed attempts: slow_down, retry later", RETRY_AFTER)
CHALLENGED = {"WWW-Authenticate": _header("the authentication challenge (RFC 9110 §11.6.1)")}
CLIENT_REFUSED = _error("invalid_client: client authentication failed", CHALLENGED)
BEARER_REFUSED = _error("invalid_token: missing, invalid or revoked access token", CHALLENGED)
NO_CONTENT = {"description": "done", "headers": NO_STORE_HEADERS}
CLIENT_ENDPOINT_REFUSALS = {
    400: BAD_REQUEST,
    401: CLIENT_REFUSED,
    413: TOO_LARGE,
    503: UNAVAILABLE,
}
"""What the endpoints a client authenticates at (token, introspection, revocation) may refuse."""


def _ok(model: type[BaseModel], description: str, **headers: Any) -> dict[str, Any]:
    return {"model": model, "description": description, "headers": headers}


TOKEN_DOC: dict[str, Any] = {
    "summary": "Token endpoint (RFC 6749 §3.2): password, refresh_token, client_credentials",
    "response_model": None,
    "responses": {
        200: _ok(TokenAnswer, "the tokens (RFC 6749 §5.1)", **NO_STORE_HEADERS),
        **CLIENT_ENDPOINT_REFUSALS,
        429: LOCKED_OUT,
    },
    "openapi_extra": {
        "requestBody": _form_body(PasswordGrantForm, RefreshGrantForm, ClientCredentialsGrantForm),
        "security": CLIENT_AUTH,
    },
}
INTROSPECT_DOC: dict[str, Any] = {
    "summary": "Token introspection (RFC 7662) for registered resource servers",
    "response_model": None,
    "responses": {
        200: _ok(IntrospectionAnswer, "the token's state (RFC 7662 §2.2)", **NO_STORE_HEADERS),
        **CLIENT_ENDPOINT_REFUSALS,
    },
    "openapi_extra": {"requestBody": _form_body(TokenForm), "security": CLIENT_AUTH},
}
REVOKE_DOC: dict[str, Any] = {
    "summary": "Token revocation (RFC 7009): a client revokes its own tokens",
    "response_model": None,
    "response_class": Response,
    "responses": {
        200: {
            "description": "revoked, or nothing to revoke (RFC 7009 §2.2); empty body",
            "headers": NO_STORE_HEADERS,
        },
        **CLIENT_ENDPOINT_REFUSALS,
    },
    "openapi_extra": {"requestBody": _form_body(TokenForm), "security": CLIENT_AUTH},
}
LOGOUT_DOC: dict[str, Any] = {
    "summary": "Revoke the session of the Bearer access token",
    "status_code": 204,
    "response_model": None,
    "responses": {204: NO_CONTENT, 401: BEARER_REFUSED, 503: UNAVAILABLE},
    "openapi_extra": {"security": [{BEARER: []}]},
}
PASSWORD_DOC: dict[str, Any] = {
    "summary": "Change the Bearer access token's user's password",
    "status_code": 204,
    "response_model": None,
    "responses": {
        204: NO_CONTENT,
        400: BAD_REQUEST,
        401: BEARER_REFUSED,
        413: TOO_LARGE,
        429: LOCKED_OUT,
        503: UNAVAILABLE,
    },
    "openapi_extra": {"requestBody": _form_body(PasswordChangeForm), "security": [{BEARER: []}]},
}


def _json_get(summary: str, model: type[BaseModel], description: str) -> dict[str, Any]:
    """The declaration of a GET route that always answers 200 with ``model``."""
    return {
        "summary": summary,
        "response_model": None,
        "responses": {200: _ok(model, description)},
    }


JWKS_DOC = _json_get("The public keys of every region (RFC 7517 §5)", JwkSet, "the JWK Set")
METADATA_DOC = _json_get(
    "Authorization server metadata (RFC 8414)", ServerMetadata, "this region's metadata"
)
HEALTHZ_DOC = _json_get("Liveness", Liveness, "the process answers")
READYZ_DOC: dict[str, Any] = {
    "summary": "Readiness: broker, Redis, Postgres and the projector's heartbeat",
    "response_model": None,
    "responses": {
        200: _ok(ReadinessAnswer, "ready, or degraded (answering through the emergency channel)"),
        503: {"model": ReadinessAnswer, "description": "not ready"},
    },
}
METRICS_DOC: dict[str, Any] = {
    "summary": "Prometheus metrics (text exposition format 0.0.4)",
    "response_model": None,
    "response_class": PlainTextResponse,
    "responses": {200: {"description": "the metrics"}},
}


def openapi_document(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``app``'s routes with the security schemes the routes name
    (built once, then cached on the app as FastAPI does)."""
    if app.openapi_schema is None:
        document = get_openapi(title=TITLE, version=app.version, routes=app.routes)
        components = document.setdefault("components", {})
        components["securitySchemes"] = SECURITY_SCHEMES
        app.openapi_schema = document
    return app.openapi_schema
