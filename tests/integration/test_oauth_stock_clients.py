"""Stock OAuth clients, untouched, against the login endpoint (issue 12): authlib's httpx
OAuth2 client with client_secret_basic, client_secret_post and private_key_jwt; the password,
refresh_token and client_credentials grants; introspection and revocation. Plus the
private_key_jwt assertion rules a stock client never breaks (RFC 7523 §3): wrong ``aud``,
expired, too long-lived, replayed ``jti``."""

from __future__ import annotations

import time
import uuid
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import jwt
import pytest
from joserfc import jwt as jose_jwt
from joserfc.jwk import KeySet, RSAKey

from schemas import names
from tests.integration.client_seeding import AUDIENCE, RS_ID, RS_SECRET, confidential, register
from tests.integration.login_harness import Login, login_fixture, read_topic, seeded
from tests.integration.login_seeding import project

with warnings.catch_warnings():
    # authlib warns that it falls back to httpx when httpx2 is not installed: that is our setup.
    # Its deprecate module installs an "always" filter on import, so ignore after it.
    import authlib.deprecate  # noqa: F401

    warnings.simplefilter("ignore")
    from authlib.integrations.httpx_client import AsyncOAuth2Client
    from authlib.oauth2.rfc7523 import PrivateKeyJWT

PASSWORD = "pw-stock"
BASE = "http://login"
TOKEN_URL = f"{BASE}/oauth2/token"
INTROSPECT_URL = f"{BASE}/oauth2/introspect"
REVOKE_URL = f"{BASE}/oauth2/revoke"
PRIVATE_KEY = RSAKey.generate_key(2048, private=True)
JWKS = KeySet([RSAKey.import_key(PRIVATE_KEY.as_dict(private=False))]).as_dict()
GRANTS = ("password", "refresh_token", "client_credentials")
SCOPES = ("openid", "profile", "email")

PUBLIC_URL = "https://auth.example.test"
"""Where clients reach this endpoint (behind a TLS-terminating front door): its RFC 8414 metadata
names this token endpoint, so a client's assertion may carry it as ``aud``."""

login = login_fixture("stockclients", seeded(("stock", PASSWORD)), public_url=PUBLIC_URL)


@pytest.fixture(scope="module", autouse=True)
async def clients(login: Login) -> None:
    await register(
        login,
        confidential("stock-basic", "basic-secret", grant_types=GRANTS, scopes=SCOPES),
        confidential(
            "stock-post",
            "post-secret",
            token_endpoint_auth_method="client_secret_post",
            grant_types=GRANTS,
            scopes=SCOPES,
        ),
        confidential(
            "stock-jwt",
            "",
            token_endpoint_auth_method="private_key_jwt",
            jwks=JWKS,
            grant_types=GRANTS,
            scopes=SCOPES,
        ),
    )


@asynccontextmanager
async def oauth_client(login: Login, client_id: str, **kw: Any) -> AsyncIterator[AsyncOAuth2Client]:
    client = AsyncOAuth2Client(client_id, transport=login.transport, **kw)
    try:
        yield client
    finally:
        await client.aclose()


def jwt_client(login: Login) -> Any:
    client = oauth_client(
        login,
        "stock-jwt",
        client_secret=PRIVATE_KEY.as_dict(private=True),
        token_endpoint_auth_method="private_key_jwt",
        revocation_endpoint_auth_method="private_key_jwt",
        scope="openid profile",
    )
    return client


async def rs_introspects(login: Login, access_token: str) -> dict[str, Any]:
    async with oauth_client(
        login, RS_ID, client_secret=RS_SECRET, token_endpoint_auth_method="client_secret_basic"
    ) as rs:
        response = await rs.introspect_token(INTROSPECT_URL, token=access_token)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def revoke_and_project(login: Login, client: AsyncOAuth2Client, access_token: str) -> None:
    """Revoke with the stock client, then apply the logged revocation as the projector would."""
    jti = jwt.decode(access_token, options={"verify_signature": False})["jti"]
    sid = jwt.decode(access_token, options={"verify_signature": False})["sid"]
    response = await client.revoke_token(REVOKE_URL, token=access_token)
    assert response.status_code == 200, response.text

    def mine(found: list[Any]) -> bool:
        return any(
            getattr(e.payload, "jti", None) == jti or e.payload.session_id == sid for e in found
        )

    events = await read_topic(
        login.settings.kafka_bootstrap, names.TOPIC_REVOCATIONS, lambda _: True, mine
    )
    await project(events, redis_url=login.settings.redis_url)


async def password_refresh_introspect_revoke(login: Login, client: AsyncOAuth2Client) -> None:
    issued = await client.fetch_token(
        TOKEN_URL, grant_type="password", username="stock", password=PASSWORD
    )
    assert issued["scope"] == "openid profile"
    # authlib repeats the configured scope on refresh (the failing case).
    refreshed = await client.refresh_token(TOKEN_URL, refresh_token=issued["refresh_token"])
    answer = await rs_introspects(login, refreshed["access_token"])
    assert answer["active"] is True
    assert (answer["aud"], answer["scope"], answer["token_type"]) == (
        AUDIENCE,
        "openid profile",
        "Bearer",
    )
    await revoke_and_project(login, client, refreshed["access_token"])
    assert (await rs_introspects(login, refreshed["access_token"]))["active"] is False


@pytest.mark.parametrize(
    ("client_id", "secret", "method"),
    [
        ("stock-basic", "basic-secret", "client_secret_basic"),
        ("stock-post", "post-secret", "client_secret_post"),
    ],
)
async def test_authlib_client_secret_methods(
    login: Login, client_id: str, secret: str, method: str
) -> None:
    """authlib authenticates the token and the revocation requests with ``method``."""
    async with oauth_client(
        login,
        client_id,
        client_secret=secret,
        token_endpoint_auth_method=method,
        revocation_endpoint_auth_method=method,
        scope="openid profile",
    ) as client:
        await password_refresh_introspect_revoke(login, client)


async def test_authlib_private_key_jwt(login: Login) -> None:
    async with jwt_client(login) as client:
        client.register_client_auth_method(PrivateKeyJWT())
        await password_refresh_introspect_revoke(login, client)


async def test_authlib_client_credentials(login: Login) -> None:
    async with jwt_client(login) as client:
        client.register_client_auth_method(PrivateKeyJWT())
        issued = await client.fetch_token(TOKEN_URL, grant_type="client_credentials")
        assert "refresh_token" not in issued
        claims = jwt.decode(
            issued["access_token"],
            options={"verify_signature": False},
            audience=AUDIENCE,
        )
        assert claims["sub"] == "stock-jwt"
        assert (await rs_introspects(login, issued["access_token"]))["active"] is True
        await revoke_and_project(login, client, issued["access_token"])
        assert (await rs_introspects(login, issued["access_token"]))["active"] is False


def assertion(**overrides: Any) -> str:
    now = int(time.time())
    claims = {
        "iss": "stock-jwt",
        "sub": "stock-jwt",
        "aud": TOKEN_URL,
        "exp": now + 60,
        "iat": now,
        "jti": str(uuid.uuid4()),
    } | overrides
    claims = {k: v for k, v in claims.items() if v is not None}
    return jose_jwt.encode({"alg": "RS256"}, claims, PRIVATE_KEY)


async def post_assertion(login: Login, value: str) -> Any:
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": value,
    }
    return await login.client.post("/oauth2/token", data=form)


@pytest.mark.parametrize(
    ("case", "overrides"),
    [
        ("wrong aud", {"aud": "https://elsewhere.example/token"}),
        ("expired", {"exp": int(time.time()) - 3600}),
        ("no exp", {"exp": None}),
        ("no jti", {"jti": None}),
        ("too old", {"iat": int(time.time()) - 600, "exp": int(time.time()) + 600}),
        ("lives too long without iat", {"iat": None, "exp": int(time.time()) + 3600}),
        ("iss is not the client", {"iss": "someone-else"}),
        ("unknown client", {"iss": "nobody", "sub": "nobody"}),
    ],
)
async def test_bad_assertions_are_invalid_client(
    login: Login, case: str, overrides: dict[str, Any]
) -> None:
    response = await post_assertion(login, assertion(**overrides))
    assert response.status_code == 401, (case, response.text)
    assert response.json()["error"] == "invalid_client"


async def test_an_assertion_is_accepted_once(login: Login) -> None:
    value = assertion(aud=login.settings.token_issuer)
    first = await post_assertion(login, value)
    assert first.status_code == 200, first.text
    replayed = await post_assertion(login, value)
    assert replayed.status_code == 401
    assert replayed.json()["error"] == "invalid_client"


async def test_an_assertion_for_the_public_token_endpoint_is_accepted(login: Login) -> None:
    """RFC 7523 §3: ``aud`` may be the token endpoint URL, which is the one the metadata names
    (``public_url``), not the address the request reached the process at."""
    response = await post_assertion(login, assertion(aud=f"{PUBLIC_URL}/oauth2/token"))
    assert response.status_code == 200, response.text


async def test_an_assertion_for_the_public_revocation_endpoint_is_accepted_there(
    login: Login,
) -> None:
    """A stock client posting to the revocation endpoint the metadata names uses that URL as
    ``aud``: behind a TLS front door it is not the URL the process saw the request at."""
    form = {
        "token": "not-a-token",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": assertion(aud=f"{PUBLIC_URL}/oauth2/revoke"),
    }
    response = await login.client.post("/oauth2/revoke", data=form)
    assert response.status_code == 200, response.text  # unknown token: 200 (RFC 7009 §2.2)


async def test_an_assertion_signed_by_another_key_is_refused(login: Login) -> None:
    other = RSAKey.generate_key(2048, private=True)
    now = int(time.time())
    claims = {"iss": "stock-jwt", "sub": "stock-jwt", "aud": TOKEN_URL, "exp": now + 60}
    forged = jose_jwt.encode({"alg": "RS256"}, claims | {"jti": str(uuid.uuid4())}, other)
    response = await post_assertion(login, forged)
    assert response.status_code == 401
