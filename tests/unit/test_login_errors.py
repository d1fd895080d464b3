"""The login endpoint's one error mapping: each kind of refusal becomes the exact answer the
integration tests pin (status, JSON body, Cache-Control, Retry-After, WWW-Authenticate)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
import pytest
from fastapi import FastAPI

from services.login.answers import install_error_handlers
from services.login.errors import (
    ClientAuthError,
    InvalidBearer,
    LockedOut,
    OAuthError,
    Unavailable,
    outcome_of,
)
from services.login.events import PublishFailed

REFUSALS: dict[str, Exception] = {
    "unavailable": Unavailable("session store unreachable, try again"),
    "publish": PublishFailed("session.started"),
    "bearer": InvalidBearer("a Bearer access token is required"),
    "client": ClientAuthError(),
    "locked": LockedOut(7),
    "grant": OAuthError("invalid_grant", "the username or password is wrong"),
}


def refusing(exc: Exception) -> Callable[[], Awaitable[None]]:
    async def refuse() -> None:
        raise exc

    return refuse


def app_raising() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    for name, exc in REFUSALS.items():
        app.add_api_route(f"/{name}", refusing(exc), methods=["POST"])
    return app


async def answer(path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app_raising())
    async with httpx.AsyncClient(transport=transport, base_url="http://login") as client:
        return await client.post(path)


@pytest.mark.parametrize(
    ("path", "status", "body", "extra"),
    [
        (
            "/unavailable",
            503,
            b'{"error":"temporarily_unavailable",'
            b'"error_description":"session store unreachable, try again"}',
            {"retry-after": "1"},
        ),
        (
            "/publish",
            503,
            b'{"error":"temporarily_unavailable",'
            b'"error_description":"the event log is unreachable, try again"}',
            {"retry-after": "1"},
        ),
        (
            "/bearer",
            401,
            b'{"error":"invalid_token","error_description":"a Bearer access token is required"}',
            {
                "www-authenticate": 'Bearer realm="authplane", error="invalid_token", '
                'error_description="a Bearer access token is required"'
            },
        ),
        (
            "/client",
            401,
            b'{"error":"invalid_client","error_description":"client authentication failed"}',
            {"www-authenticate": 'Basic realm="authplane", charset="UTF-8"'},
        ),
        (
            "/locked",
            429,
            b'{"error":"slow_down",'
            b'"error_description":"too many failed attempts; retry after the Retry-After delay"}',
            {"retry-after": "7"},
        ),
        (
            "/grant",
            400,
            b'{"error":"invalid_grant","error_description":"the username or password is wrong"}',
            {},
        ),
    ],
)
async def test_each_refusal_is_answered_exactly_once_way(
    path: str, status: int, body: bytes, extra: dict[str, str]
) -> None:
    response = await answer(path)
    assert response.status_code == status
    assert response.content == body
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    for name, value in extra.items():
        assert response.headers[name] == value
    if status != 503 and "retry-after" not in extra:
        assert "retry-after" not in response.headers


async def test_an_unknown_route_is_a_json_404() -> None:
    response = await answer("/nowhere")
    assert response.status_code == 404
    assert response.content == b'{"error":"not_found"}'


def test_every_503_counts_as_unavailable_and_others_by_their_code() -> None:
    assert outcome_of(PublishFailed("x")) == "unavailable"
    assert outcome_of(Unavailable("x")) == "unavailable"
    assert outcome_of(LockedOut(1)) == "slow_down"
    assert outcome_of(OAuthError("invalid_grant", "x")) == "invalid_grant"
