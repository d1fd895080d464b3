"""The token, introspection and revocation endpoints know who is asking (issue 12): client
authentication (RFC 6749 §2.3), grants, scopes and audiences per client, RFC 9068 access tokens,
refresh tokens bound to their client (RFC 6749 §6), and every bad input answered with its RFC
error, never a token and never a 5xx."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import quote_plus

import httpx
import jwt
import pytest

from tests.integration.client_seeding import (
    APP_ID,
    AUDIENCE,
    OTHER_AUDIENCE,
    RS_ID,
    RS_SECRET,
    SERVICE_ID,
    SERVICE_SECRET,
    client,
    confidential,
    register,
)
from tests.integration.login_harness import Login, login_fixture, seeded

PASSWORD = "pw-olga"
USER = {"username": "olga", "password": PASSWORD}
login = login_fixture("oauthclients", seeded(("olga", PASSWORD)))


def basic(client_id: str, secret: str) -> dict[str, str]:
    """RFC 6749 §2.3.1: id and secret form-urlencoded, then HTTP Basic."""
    pair = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return {"Authorization": "Basic " + base64.b64encode(pair).decode()}


async def token(
    login: Login, form: dict[str, str], headers: dict[str, str] | None = None
) -> httpx.Response:
    return await login.client.post("/oauth2/token", data=form, headers=headers or {})


async def app_login(login: Login, **extra: str) -> dict[str, Any]:
    form = {"grant_type": "password", **USER, "client_id": APP_ID, **extra}
    response = await token(login, form)
    assert response.status_code == 200, response.text
    return dict(response.json())


def claims_of(access_token: str) -> dict[str, Any]:
    return dict(jwt.decode(access_token, options={"verify_signature": False}))


async def introspect(login: Login, token_value: str) -> dict[str, Any]:
    response = await login.client.post(
        "/oauth2/introspect", data={"token": token_value}, headers=basic(RS_ID, RS_SECRET)
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_access_tokens_follow_rfc_9068(login: Login) -> None:
    issued = await app_login(login, scope="openid profile")
    header = jwt.get_unverified_header(issued["access_token"])
    assert header["typ"] == "at+jwt"
    claims = claims_of(issued["access_token"])
    assert {"iss", "sub", "aud", "exp", "iat", "jti", "client_id", "scope", "sid", "region"} <= set(
        claims
    )
    assert claims["aud"] == AUDIENCE
    assert claims["client_id"] == APP_ID
    assert claims["scope"] == issued["scope"] == "openid profile"
    answer = await introspect(login, issued["access_token"])
    assert answer["active"] is True
    assert answer["token_type"] == "Bearer"
    assert (answer["aud"], answer["scope"], answer["client_id"]) == (
        AUDIENCE,
        "openid profile",
        APP_ID,
    )


async def test_no_scope_asked_grants_the_default_scopes(login: Login) -> None:
    issued = await app_login(login)
    assert claims_of(issued["access_token"])["scope"] == "openid"
    assert issued["scope"] == "openid"


async def test_resource_chooses_an_allowed_audience(login: Login) -> None:
    issued = await app_login(login, resource=OTHER_AUDIENCE)
    assert claims_of(issued["access_token"])["aud"] == OTHER_AUDIENCE


async def test_refresh_keeps_the_scope_and_audience_and_may_only_narrow(login: Login) -> None:
    issued = await app_login(login, scope="openid profile email", resource=OTHER_AUDIENCE)
    form = {"grant_type": "refresh_token", "client_id": APP_ID}
    kept = await token(login, form | {"refresh_token": issued["refresh_token"]})
    assert kept.status_code == 200, kept.text
    claims = claims_of(kept.json()["access_token"])
    assert (claims["scope"], claims["aud"]) == ("openid profile email", OTHER_AUDIENCE)
    narrowed = await token(
        login, form | {"refresh_token": kept.json()["refresh_token"], "scope": "openid"}
    )
    assert narrowed.status_code == 200, narrowed.text
    assert claims_of(narrowed.json()["access_token"])["scope"] == "openid"
    # Narrowing one access token does not narrow the grant: the next refresh may ask for all.
    wider = await token(
        login, form | {"refresh_token": narrowed.json()["refresh_token"], "scope": "profile"}
    )
    assert wider.status_code == 200, wider.text
    escalated = await token(
        login,
        form | {"refresh_token": wider.json()["refresh_token"], "scope": "openid offline_access"},
    )
    assert escalated.status_code == 400
    assert escalated.json()["error"] == "invalid_scope"


async def test_refresh_is_bound_to_the_client_even_when_client_id_is_not_repeated(
    login: Login,
) -> None:
    issued = await app_login(login)
    refresh = {"grant_type": "refresh_token", "refresh_token": issued["refresh_token"]}
    other = await token(login, refresh, basic(SERVICE_ID, SERVICE_SECRET))
    assert other.status_code == 400
    assert other.json()["error"] == "invalid_grant"
    anonymous = await token(login, refresh)
    assert anonymous.status_code == 401
    assert anonymous.json()["error"] == "invalid_client"
    own = await token(login, refresh | {"client_id": APP_ID})
    assert own.status_code == 200, own.text


async def test_client_credentials_token_is_the_clients_own(login: Login) -> None:
    form = {"grant_type": "client_credentials", "scope": "email"}
    response = await token(login, form, basic(SERVICE_ID, SERVICE_SECRET))
    assert response.status_code == 200, response.text
    body = response.json()
    assert "refresh_token" not in body
    claims = claims_of(body["access_token"])
    assert claims["sub"] == claims["client_id"] == SERVICE_ID
    assert (claims["aud"], claims["scope"]) == (AUDIENCE, "email")
    assert (await introspect(login, body["access_token"]))["active"] is True


@pytest.mark.parametrize(
    ("case", "form", "headers", "status", "error"),
    [
        ("unknown public client", {"client_id": "nobody"}, {}, 401, "invalid_client"),
        ("no client at all", {}, {}, 401, "invalid_client"),
        ("unknown Basic client", {}, basic("nobody", "x"), 401, "invalid_client"),
        ("wrong secret", {}, basic(SERVICE_ID, "wrong"), 401, "invalid_client"),
        (
            "wrong secret in the body",
            {"client_id": SERVICE_ID, "client_secret": "wrong"},
            {},
            401,
            "invalid_client",
        ),
        (
            "confidential client without its secret",
            {"client_id": SERVICE_ID},
            {},
            401,
            "invalid_client",
        ),
        (
            "secret in header and body",
            {"client_secret": SERVICE_SECRET},
            basic(SERVICE_ID, SERVICE_SECRET),
            400,
            "invalid_request",
        ),
        (
            "client_id differing from Basic",
            {"client_id": APP_ID},
            basic(SERVICE_ID, SERVICE_SECRET),
            400,
            "invalid_request",
        ),
        ("disabled client", {"client_id": "disabled-app"}, {}, 401, "invalid_client"),
        ("grant not allowed", {"client_id": "no-password"}, {}, 400, "unauthorized_client"),
        ("scope not allowed", {"client_id": APP_ID, "scope": "admin"}, {}, 400, "invalid_scope"),
        ("malformed scope", {"client_id": APP_ID, "scope": 'a"b'}, {}, 400, "invalid_scope"),
        (
            "resource not allowed",
            {"client_id": APP_ID, "resource": "https://evil.example"},
            {},
            400,
            "invalid_target",
        ),
    ],
)
async def test_bad_client_input_gets_its_rfc_error_and_no_token(
    login: Login,
    case: str,
    form: dict[str, str],
    headers: dict[str, str],
    status: int,
    error: str,
) -> None:
    await register(
        login,
        client("disabled-app", disabled=True),
        client("no-password", grant_types=("refresh_token",)),
    )
    response = await token(login, {"grant_type": "password", **USER, **form}, headers)
    assert response.status_code == status, (case, response.text)
    body = response.json()
    assert body["error"] == error, case
    assert "access_token" not in body
    if status == 401:
        assert response.headers["www-authenticate"].startswith("Basic ")


async def test_public_client_may_not_use_client_credentials(login: Login) -> None:
    await register(login, client("public-cc", grant_types=("client_credentials",)))
    response = await token(login, {"grant_type": "client_credentials", "client_id": "public-cc"})
    assert response.status_code == 400
    assert response.json()["error"] == "unauthorized_client"


async def test_introspection_needs_the_introspection_permission(login: Login) -> None:
    issued = await app_login(login)
    refused = await login.client.post(
        "/oauth2/introspect",
        data={"token": issued["access_token"]},
        headers=basic(SERVICE_ID, SERVICE_SECRET),
    )
    assert refused.status_code == 400
    assert refused.json()["error"] == "unauthorized_client"
    anonymous = await login.client.post("/oauth2/introspect", data={"token": "x"})
    assert anonymous.status_code == 401
    by_post = await login.client.post(
        "/oauth2/introspect",
        data={"token": issued["access_token"], "client_id": RS_ID, "client_secret": RS_SECRET},
    )
    assert by_post.status_code == 200
    assert by_post.json()["active"] is True


async def test_a_client_may_revoke_only_its_own_tokens(login: Login) -> None:
    issued = await app_login(login)
    for value in (issued["access_token"], issued["refresh_token"]):
        refused = await login.client.post(
            "/oauth2/revoke", data={"token": value}, headers=basic(SERVICE_ID, SERVICE_SECRET)
        )
        assert refused.status_code == 400, refused.text
        assert refused.json()["error"] == "invalid_grant"
    assert (await introspect(login, issued["access_token"]))["active"] is True
    unauthenticated = await login.client.post(
        "/oauth2/revoke", data={"token": issued["access_token"]}
    )
    assert unauthenticated.status_code == 401


async def test_a_confidential_client_can_be_made_to_use_the_post_method(login: Login) -> None:
    await register(
        login,
        confidential(
            "poster",
            "poster-secret",
            token_endpoint_auth_method="client_secret_post",
            grant_types=("client_credentials",),
        ),
    )
    form = {"grant_type": "client_credentials", "client_id": "poster"}
    response = await token(login, form | {"client_secret": "poster-secret"})
    assert response.status_code == 200, response.text
