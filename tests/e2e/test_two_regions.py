"""A user driving two regions: register once, log in anywhere, be known everywhere."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx
import jwt
import orjson
import pytest
from redis import Redis

from schemas import names
from schemas.identity import user_id_for
from services.devstack.stack import Stack
from tests.e2e.drive import (
    PASSWORD,
    authctl,
    eventually,
    introspect,
    login_url,
    password_login,
)


def create_user(stack: Stack, username: str) -> None:
    result = authctl(stack, "user", "create", username, "--password-stdin", stdin=PASSWORD)
    assert result.returncode == 0, result.stderr


def login_when_propagated(stack: Stack, region: str, username: str) -> dict[str, Any]:
    """The user's registration reaches each region asynchronously: wait until the region's
    projection has it, then log in once (failed attempts would count toward a lockout)."""
    redis = Redis.from_url(stack.settings[region].redis_url)
    try:
        eventually(lambda: redis.exists(names.redis_user_key(user_id_for(username))))
    finally:
        redis.close()
    response = password_login(stack, region, username, PASSWORD)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def sessions_in(stack: Stack, region: str, username: str) -> list[dict[str, Any]]:
    result = authctl(stack, "sessions", "list", username, "--region", region, "--json")
    assert result.returncode == 0, result.stderr
    listed: list[dict[str, Any]] = orjson.loads(result.stdout)
    return listed


def postgres_session(stack: Stack, region: str, session_id: str) -> Any:
    async def fetch() -> Any:
        conn = await asyncpg.connect(stack.settings[region].postgres_dsn)
        try:
            return await conn.fetchrow(
                f"SELECT user_id, origin_region FROM {names.TABLE_SESSIONS} "  # noqa: S608
                "WHERE session_id = $1",
                session_id,
            )
        finally:
            await conn.close()

    import asyncio

    return asyncio.run(fetch())


@pytest.mark.parametrize(("home", "other"), [("eu", "us"), ("us", "eu")])
def test_login_in_one_region_is_known_in_the_other(stack: Stack, home: str, other: str) -> None:
    username = f"alice-{home}"
    create_user(stack, username)
    tokens = login_when_propagated(stack, home, username)

    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] > 0
    assert tokens["refresh_token"]
    header = jwt.get_unverified_header(tokens["access_token"])
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    assert header["alg"] == "RS256"
    assert header["kid"]
    assert claims["sub"] == user_id_for(username)
    assert {"iss", "sub", "sid", "jti", "iat", "exp"} <= claims.keys()

    # The other region vouches for the token at once: its signing key travelled as an event.
    answer = introspect(stack, other, tokens["access_token"])
    assert answer["active"] is True
    assert answer["sub"] == claims["sub"]
    assert answer["sid"] == claims["sid"]

    # The session reaches the other region's Redis and Postgres, and authctl shows it there.
    session_id = claims["sid"]
    redis = Redis.from_url(stack.settings[other].redis_url)
    assert eventually(lambda: redis.exists(names.redis_session_key(session_id)))
    redis.close()
    row = eventually(lambda: postgres_session(stack, other, session_id))
    assert row["user_id"] == claims["sub"]
    assert row["origin_region"] == home
    listed = eventually(lambda: sessions_in(stack, other, username))
    assert [s["session_id"] for s in listed] == [session_id]
    assert listed[0]["origin_region"] == home


def test_every_region_publishes_every_regions_keys(stack: Stack) -> None:
    def regions_listed(region: str) -> set[str]:
        keys = httpx.get(f"{login_url(stack, region)}/.well-known/jwks.json").json()["keys"]
        return {key["kid"] for key in keys}

    eu_keys = eventually(lambda: regions_listed("eu") if len(regions_listed("eu")) >= 2 else None)
    us_keys = eventually(lambda: regions_listed("us") if len(regions_listed("us")) >= 2 else None)
    assert eu_keys == us_keys


def test_wrong_password_and_unknown_user_look_the_same(stack: Stack) -> None:
    create_user(stack, "bob")
    login_when_propagated(stack, "eu", "bob")
    wrong = password_login(stack, "eu", "bob", "not his password")
    unknown = password_login(stack, "eu", "nobody-at-all", "whatever")
    assert wrong.status_code == unknown.status_code == 400
    assert wrong.json() == unknown.json()
    assert wrong.json()["error"] == "invalid_grant"


def test_a_tampered_token_is_inactive_everywhere(stack: Stack) -> None:
    create_user(stack, "carol")
    token = login_when_propagated(stack, "eu", "carol")["access_token"]
    head, _, signature = token.split(".")
    forged_claims = jwt.decode(token, options={"verify_signature": False}) | {"sub": "mallory"}
    forged_body = jwt.utils.base64url_encode(orjson.dumps(forged_claims)).decode()
    forged = f"{head}.{forged_body}.{signature}"
    for region in ("eu", "us"):
        assert introspect(stack, region, forged) == {"active": False}


def test_authctl_names_an_unknown_region_in_one_line(stack: Stack) -> None:
    result = authctl(stack, "sessions", "list", "alice-eu", "--region", "mars", "--json")
    assert result.returncode != 0
    assert "mars" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_registering_an_existing_user_again_is_refused(stack: Stack) -> None:
    create_user(stack, "dave")
    login_when_propagated(stack, "us", "dave")
    again = authctl(stack, "user", "create", "DAVE", "--password-stdin", stdin="other password")
    assert again.returncode == 1
    assert again.stderr.strip() == "authctl: user dave already exists"
    # The original password still works: nothing was written.
    assert password_login(stack, "eu", "dave", PASSWORD).status_code == 200
