"""HTTP handlers. Each one takes the runtime from the app and delegates to a domain module."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.login.bootstrap import Runtime
from services.login.forms import (
    OAuthError,
    check_declared_length,
    check_media_type,
    parse_form,
    read_capped,
    require,
)
from services.login.grant import password_grant
from services.login.health import readiness
from services.login.introspect import authenticate_client, introspect
from services.login.jwks import jwks_entries
from services.login.lockout import client_ip
from services.login.logs import request_id_var
from services.login.password_change import change_password
from services.login.refresh import refresh_grant
from services.login.revoke import logout, outcome_of, revoke

router = APIRouter()
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status, headers, media_type="application/json")


async def read_form(request: Request, limit: int) -> dict[str, str]:
    check_declared_length(request.headers, limit)
    check_media_type(request.headers.get("content-type"))
    return parse_form(await read_capped(request.stream(), limit))


@router.post("/oauth2/token")
async def token(request: Request) -> Response:
    rt = runtime_of(request)
    form = await read_form(request, rt.settings.max_body_bytes)
    grant_type = require(form, "grant_type")
    if grant_type == "refresh_token":
        body = await refresh_grant(rt, form, request_id_var.get())
        return json_response(body, headers=NO_STORE)
    if grant_type != "password":
        rt.metrics.logins.labels("unsupported_grant_type").inc()
        raise OAuthError(
            "unsupported_grant_type", "only grant_type=password and refresh_token are supported"
        )
    body = await password_grant(rt, form, request_id_var.get(), peer_ip(request, rt))
    return json_response(body, headers=NO_STORE)


def peer_ip(request: Request, rt: Runtime) -> str:
    peer = request.client.host if request.client else None
    forwarded = request.headers.get("x-forwarded-for")
    return client_ip(peer, forwarded, rt.settings.trusted_proxy_hops)


@router.post("/v1/password")
async def password(request: Request) -> Response:
    rt = runtime_of(request)
    form = await read_form(request, rt.settings.max_body_bytes)
    authorization = request.headers.get("authorization")
    await change_password(rt, authorization, form, peer_ip(request, rt), request_id_var.get())
    return Response(status_code=204, headers=NO_STORE)


@router.post("/oauth2/introspect")
async def introspect_token(request: Request) -> Response:
    rt = runtime_of(request)
    authenticate_client(
        request.headers.get("authorization"),
        {k: v.get_secret_value() for k, v in rt.settings.introspection_clients.items()},
    )
    form = await read_form(request, rt.settings.max_body_bytes)
    answer = await introspect(rt, require(form, "token"))
    return json_response(answer, headers=NO_STORE)


@router.post("/oauth2/revoke")
async def revoke_token(request: Request) -> Response:
    rt = runtime_of(request)
    form = await read_form(request, rt.settings.max_body_bytes)
    counter = rt.metrics.revocation_requests
    try:
        outcome = await revoke(rt, require(form, "token"), request_id_var.get())
    except OAuthError as exc:
        counter.labels("revoke", outcome_of(exc)).inc()
        raise
    counter.labels("revoke", outcome).inc()
    return Response(b"", 200, NO_STORE)


@router.post("/v1/logout")
async def logout_session(request: Request) -> Response:
    rt = runtime_of(request)
    counter = rt.metrics.revocation_requests
    try:
        await logout(rt, request.headers.get("authorization"), request_id_var.get())
    except OAuthError as exc:
        counter.labels("logout", outcome_of(exc)).inc()
        raise
    counter.labels("logout", "revoked").inc()
    return Response(status_code=204, headers=NO_STORE)


@router.get("/.well-known/jwks.json")
async def jwks(request: Request) -> Response:
    rt = runtime_of(request)
    keys = jwks_entries(await rt.keyring.published(), rt.settings.region, rt.settings.token_issuer)
    return json_response({"keys": keys}, headers={"Cache-Control": "public, max-age=30"})


@router.get("/healthz")
async def healthz() -> Response:
    return json_response({"status": "ok"})


@router.get("/readyz")
async def readyz(request: Request) -> Response:
    ready, checks = await readiness(runtime_of(request))
    body = {"status": "ready" if ready else "not_ready", "checks": checks}
    return json_response(body, 200 if ready else 503, {"Cache-Control": "no-store"})


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    text = runtime_of(request).metrics.render()
    return Response(text, media_type="text/plain; version=0.0.4; charset=utf-8")
