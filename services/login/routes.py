"""HTTP handlers. Each one receives the parts it needs (FastAPI dependencies, see
``services.login.deps``) and delegates to a use case; errors are mapped in
``services.login.errors``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from schemas.settings import Settings
from services.login.client_assertion import ASSERTION_ALGS
from services.login.client_auth import ClientAuthenticator
from services.login.deps import Handler, provide
from services.login.errors import OAuthError, outcome_of
from services.login.events import PublishFailed
from services.login.forms import (
    check_declared_length,
    check_media_type,
    parse_form,
    read_capped,
    require,
)
from services.login.health import NOT_READY, Readiness
from services.login.introspect import Introspection, require_introspector
from services.login.jwks import jwks_entries
from services.login.keyring import Keyring
from services.login.lockout import client_ip
from services.login.logs import request_id_var
from services.login.metadata import CACHE_CONTROL, server_metadata
from services.login.metrics import Metrics
from services.login.openapi import (
    HEALTHZ_DOC,
    INTROSPECT_DOC,
    JWKS_DOC,
    LOGOUT_DOC,
    METADATA_DOC,
    METRICS_DOC,
    PASSWORD_DOC,
    READYZ_DOC,
    REVOKE_DOC,
    TOKEN_DOC,
)
from services.login.password_change import PasswordChange
from services.login.responses import NO_STORE, json_response
from services.login.revoke import Revocation
from services.login.token_endpoint import TokenEndpoint

router = APIRouter()
SettingsDep = Annotated[Settings, Depends(provide(Settings))]
MetricsDep = Annotated[Metrics, Depends(provide(Metrics))]
TokenEndpointDep = Annotated[TokenEndpoint, Depends(provide(TokenEndpoint))]
ClientsDep = Annotated[ClientAuthenticator, Depends(provide(ClientAuthenticator))]
PasswordChangeDep = Annotated[PasswordChange, Depends(provide(PasswordChange))]
IntrospectionDep = Annotated[Introspection, Depends(provide(Introspection))]
RevocationDep = Annotated[Revocation, Depends(provide(Revocation))]
KeyringDep = Annotated[Keyring, Depends(provide(Keyring))]
ReadinessDep = Annotated[Readiness, Depends(provide(Readiness))]


async def read_form(request: Request, limit: int) -> dict[str, str]:
    """The RFC 6749 Appendix B form body, at most ``limit`` bytes; raises ``OAuthError``."""
    check_declared_length(request.headers, limit)
    check_media_type(request.headers.get("content-type"))
    return parse_form(await read_capped(request.stream(), limit))


def endpoint_url(request: Request) -> str:
    """The URL the request was sent to, without its query: an acceptable ``aud`` of a
    ``private_key_jwt`` client assertion (``services.login.client_assertion``)."""
    return str(request.url.replace(query=""))


def peer_ip(request: Request, settings: Settings) -> str:
    """The client address the lockout counts (``services.login.lockout.client_ip``)."""
    peer = request.client.host if request.client else None
    forwarded = request.headers.get("x-forwarded-for")
    return client_ip(peer, forwarded, settings.trusted_proxy_hops)


@router.post("/oauth2/token", **TOKEN_DOC)
async def token(request: Request, settings: SettingsDep, endpoint: TokenEndpointDep) -> Response:
    return await answer_token(request, settings, endpoint)


async def answer_token(request: Request, settings: Settings, endpoint: TokenEndpoint) -> Response:
    """RFC 6749 §3.2: the token endpoint (``POST /oauth2/token``); raises ``OAuthError``."""
    form = await read_form(request, settings.max_body_bytes)
    body = await endpoint(
        request.headers.get("authorization"),
        form,
        endpoint_url(request),
        request_id_var.get(),
        peer_ip(request, settings),
    )
    return json_response(body, headers=NO_STORE)


@router.post("/v1/password", **PASSWORD_DOC)
async def password(
    request: Request, settings: SettingsDep, change_password: PasswordChangeDep
) -> Response:
    form = await read_form(request, settings.max_body_bytes)
    authorization = request.headers.get("authorization")
    await change_password(authorization, form, peer_ip(request, settings), request_id_var.get())
    return Response(status_code=204, headers=NO_STORE)


@router.post("/oauth2/introspect", **INTROSPECT_DOC)
async def introspect_token(
    request: Request, settings: SettingsDep, clients: ClientsDep, introspect: IntrospectionDep
) -> Response:
    return await answer_introspection(request, settings, clients, introspect)


async def answer_introspection(
    request: Request, settings: Settings, clients: ClientAuthenticator, introspect: Introspection
) -> Response:
    """RFC 7662 §2: the introspection endpoint (``POST /oauth2/introspect``); raises
    ``OAuthError``."""
    form = await read_form(request, settings.max_body_bytes)
    authorization = request.headers.get("authorization")
    require_introspector(await clients.authenticate(authorization, form, endpoint_url(request)))
    answer = await introspect(require(form, "token"))
    return json_response(answer, headers=NO_STORE)


@router.post("/oauth2/revoke", **REVOKE_DOC)
async def revoke_token(
    request: Request,
    settings: SettingsDep,
    metrics: MetricsDep,
    clients: ClientsDep,
    revocation: RevocationDep,
) -> Response:
    form = await read_form(request, settings.max_body_bytes)
    counter = metrics.revocation_requests
    authorization = request.headers.get("authorization")
    try:
        token = require(form, "token")  # a malformed request is invalid_request, whoever sends it
        client = await clients.authenticate(authorization, form, endpoint_url(request))
        outcome = await revocation.revoke(token, client, request_id_var.get())
    except (OAuthError, PublishFailed) as exc:
        counter.labels("revoke", outcome_of(exc)).inc()
        raise
    counter.labels("revoke", outcome).inc()
    return Response(b"", 200, NO_STORE)


@router.post("/v1/logout", **LOGOUT_DOC)
async def logout_session(
    request: Request, metrics: MetricsDep, revocation: RevocationDep
) -> Response:
    counter = metrics.revocation_requests
    try:
        await revocation.logout(request.headers.get("authorization"), request_id_var.get())
    except (OAuthError, PublishFailed) as exc:
        counter.labels("logout", outcome_of(exc)).inc()
        raise
    counter.labels("logout", "revoked").inc()
    return Response(status_code=204, headers=NO_STORE)


@router.get("/.well-known/jwks.json", **JWKS_DOC)
async def jwks(settings: SettingsDep, keyring: KeyringDep) -> Response:
    published = await keyring.published()
    keys = jwks_entries(published, settings.region, settings.token_issuer)
    return json_response({"keys": keys}, headers={"Cache-Control": "public, max-age=30"})


@router.get("/.well-known/oauth-authorization-server", **METADATA_DOC)
async def authorization_server_metadata(request: Request, settings: SettingsDep) -> Response:
    document = server_metadata(settings, request.app.url_path_for, ASSERTION_ALGS)
    return json_response(document, headers={"Cache-Control": CACHE_CONTROL})


@router.get("/healthz", **HEALTHZ_DOC)
async def healthz() -> Response:
    return json_response({"status": "ok"})


@router.get("/readyz", **READYZ_DOC)
async def readyz(readiness: ReadinessDep) -> Response:
    status, body = await readiness()
    code = 503 if status == NOT_READY else 200  # degraded still answers logins: 200
    return json_response({"status": status, **body}, code, {"Cache-Control": "no-store"})


@router.get("/metrics", **METRICS_DOC)
async def metrics(registry: MetricsDep) -> Response:
    text = registry.render()
    return Response(text, media_type="text/plain; version=0.0.4; charset=utf-8")


DIRECT_ROUTES: dict[tuple[str, str], tuple[Handler, tuple[type, ...]]] = {
    ("POST", "/oauth2/token"): (answer_token, (Settings, TokenEndpoint)),
    ("POST", "/oauth2/introspect"): (
        answer_introspection,
        (Settings, ClientAuthenticator, Introspection),
    ),
}
"""The routes ``services.login.deps.DirectRoutes`` answers without FastAPI's dispatch (the grants
and introspection: every request of a token's life but the first login's hash); each body is
the one its FastAPI route above calls, with the same parts."""
