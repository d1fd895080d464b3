"""HTTP handlers. Each one receives the parts it needs (FastAPI dependencies, see
``services.login.deps``) and delegates to a use case; errors are mapped in
``services.login.errors``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from schemas.settings import Settings
from services.login.deps import provide
from services.login.errors import OAuthError, outcome_of
from services.login.events import PublishFailed
from services.login.forms import (
    check_declared_length,
    check_media_type,
    parse_form,
    read_capped,
    require,
)
from services.login.grant import PasswordGrant
from services.login.health import NOT_READY, Readiness
from services.login.introspect import Introspection, authenticate_client
from services.login.jwks import jwks_entries
from services.login.keyring import Keyring
from services.login.lockout import client_ip
from services.login.logs import request_id_var
from services.login.metrics import Metrics
from services.login.password_change import PasswordChange
from services.login.refresh import RefreshGrant
from services.login.responses import NO_STORE, json_response
from services.login.revoke import Revocation

router = APIRouter()
SettingsDep = Annotated[Settings, Depends(provide(Settings))]
MetricsDep = Annotated[Metrics, Depends(provide(Metrics))]
PasswordGrantDep = Annotated[PasswordGrant, Depends(provide(PasswordGrant))]
RefreshGrantDep = Annotated[RefreshGrant, Depends(provide(RefreshGrant))]
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


def peer_ip(request: Request, settings: Settings) -> str:
    """The client address the lockout counts (``services.login.lockout.client_ip``)."""
    peer = request.client.host if request.client else None
    forwarded = request.headers.get("x-forwarded-for")
    return client_ip(peer, forwarded, settings.trusted_proxy_hops)


@router.post("/oauth2/token")
async def token(
    request: Request,
    settings: SettingsDep,
    metrics: MetricsDep,
    password_grant: PasswordGrantDep,
    refresh_grant: RefreshGrantDep,
) -> Response:
    form = await read_form(request, settings.max_body_bytes)
    grant_type = require(form, "grant_type")
    if grant_type == "refresh_token":
        body = await refresh_grant(form, request_id_var.get())
        return json_response(body, headers=NO_STORE)
    if grant_type != "password":
        metrics.logins.labels("unsupported_grant_type").inc()
        raise OAuthError(
            "unsupported_grant_type", "only grant_type=password and refresh_token are supported"
        )
    body = await password_grant(form, request_id_var.get(), peer_ip(request, settings))
    return json_response(body, headers=NO_STORE)


@router.post("/v1/password")
async def password(
    request: Request, settings: SettingsDep, change_password: PasswordChangeDep
) -> Response:
    form = await read_form(request, settings.max_body_bytes)
    authorization = request.headers.get("authorization")
    await change_password(authorization, form, peer_ip(request, settings), request_id_var.get())
    return Response(status_code=204, headers=NO_STORE)


@router.post("/oauth2/introspect")
async def introspect_token(
    request: Request, settings: SettingsDep, introspect: IntrospectionDep
) -> Response:
    authenticate_client(request.headers.get("authorization"), settings.introspection_clients)
    form = await read_form(request, settings.max_body_bytes)
    answer = await introspect(require(form, "token"))
    return json_response(answer, headers=NO_STORE)


@router.post("/oauth2/revoke")
async def revoke_token(
    request: Request, settings: SettingsDep, metrics: MetricsDep, revocation: RevocationDep
) -> Response:
    form = await read_form(request, settings.max_body_bytes)
    counter = metrics.revocation_requests
    try:
        outcome = await revocation.revoke(require(form, "token"), request_id_var.get())
    except (OAuthError, PublishFailed) as exc:
        counter.labels("revoke", outcome_of(exc)).inc()
        raise
    counter.labels("revoke", outcome).inc()
    return Response(b"", 200, NO_STORE)


@router.post("/v1/logout")
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


@router.get("/.well-known/jwks.json")
async def jwks(settings: SettingsDep, keyring: KeyringDep) -> Response:
    published = await keyring.published()
    keys = jwks_entries(published, settings.region, settings.token_issuer)
    return json_response({"keys": keys}, headers={"Cache-Control": "public, max-age=30"})


@router.get("/healthz")
async def healthz() -> Response:
    return json_response({"status": "ok"})


@router.get("/readyz")
async def readyz(readiness: ReadinessDep) -> Response:
    status, body = await readiness()
    code = 503 if status == NOT_READY else 200  # degraded still answers logins: 200
    return json_response({"status": status, **body}, code, {"Cache-Control": "no-store"})


@router.get("/metrics")
async def metrics(registry: MetricsDep) -> Response:
    text = registry.render()
    return Response(text, media_type="text/plain; version=0.0.4; charset=utf-8")
