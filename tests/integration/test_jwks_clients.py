"""The JWKS endpoint is a valid RFC 7517 JWK Set: stock clients (PyJWT, joserfc, authlib) load
all of it and verify real tokens with it, including keys whose records older code stored with
``key_ops`` stringified."""

from __future__ import annotations

import time
import warnings
from datetime import UTC, datetime
from typing import Any

import jwt
import orjson
import pytest
from joserfc import jwt as joserfc_jwt
from joserfc.jwk import KeySet
from redis.asyncio import Redis

from schemas import names
from services.core.keys import SigningKey, load_or_create
from tests.integration.login_harness import APP, Login, login_fixture
from tests.integration.login_seeding import seed_user_redis

# authlib.jose is deprecated upstream (in favour of joserfc) and says so on import, with a filter
# of its own that overrides pytest's; clients built on it still exist, so it is tested.
with warnings.catch_warnings(record=True):
    from authlib.jose import JsonWebKey
    from authlib.jose import jwt as authlib_jwt

# RFC 7518 §6 / RFC 8037 §2: the public parameters of each key type, all strings.
KEY_PARAMETERS = {"RSA": {"n", "e"}, "EC": {"crv", "x", "y"}, "OKP": {"crv", "x"}}
KEY_OPS = {
    "sign",
    "verify",
    "encrypt",
    "decrypt",
    "wrapKey",
    "unwrapKey",
    "deriveKey",
    "deriveBits",
}
pytestmark = [
    pytest.mark.filterwarnings("ignore::authlib.deprecate.AuthlibDeprecationWarning"),
    pytest.mark.filterwarnings("ignore::joserfc.errors.SecurityWarning"),
]


async def _prepare(login: Login) -> None:
    await seed_user_redis(login.settings, "judy", "pw-judy")


login = login_fixture("jwks", _prepare)


@pytest.fixture(scope="module")
async def legacy_key(tmp_path_factory: pytest.TempPathFactory, login: Login) -> SigningKey:
    """us's key as the projection holds it when older code published it: PyJWT's key_ops list
    stringified to "['verify']", and no issuer."""
    key = load_or_create(tmp_path_factory.mktemp("us"), "us", "ES256")
    entry = {
        "kid": key.kid,
        "region": "us",
        "alg": key.alg,
        "public_jwk": {**key.public_jwk, "key_ops": "['verify']"},
        "published_at": datetime.now(UTC).isoformat(),
    }
    redis = Redis.from_url(login.settings.redis_url)
    try:
        await redis.hset(names.redis_signing_keys_key(), key.kid, orjson.dumps(entry))
    finally:
        await redis.aclose()
    await login.wiring.keyring.refresh()
    return key


async def _jwks(login: Login) -> dict[str, Any]:
    response = await login.client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    doc: dict[str, Any] = response.json()
    return doc


async def _tokens(login: Login, legacy_key: SigningKey) -> list[str]:
    form = {"grant_type": "password", **APP, "username": "judy", "password": "pw-judy"}
    own = (await login.client.post("/oauth2/token", data=form)).json()["access_token"]
    now = int(time.time())
    claims = {"iss": "https://us.authplane.local", "sub": "u", "iat": now, "exp": now + 60}
    other = jwt.encode(claims, legacy_key.private_key, legacy_key.alg, {"kid": legacy_key.kid})
    return [own, other]


def _member_problems(entry: dict[str, Any]) -> list[str]:
    """RFC 7517 §4 member types, and §4.3's advice not to send both use and key_ops."""
    problems = []
    kty = entry.get("kty")
    if kty not in KEY_PARAMETERS:
        return [f"kty {kty!r}"]
    for name in KEY_PARAMETERS[kty] | {"kid", "alg", "use"}:
        if not isinstance(entry.get(name), str):
            problems.append(f"{name} is {entry.get(name)!r}")
    if "key_ops" in entry:
        ops = entry["key_ops"]
        if not isinstance(ops, list) or not set(ops) <= KEY_OPS or "use" in entry:
            problems.append(f"key_ops is {ops!r}")
    if entry.get("use") not in ("sig", "enc"):
        problems.append(f"use is {entry.get('use')!r}")
    return problems


async def test_every_member_of_every_key_has_its_rfc_7517_type(
    login: Login, legacy_key: SigningKey
) -> None:
    keys = (await _jwks(login))["keys"]
    assert {k["kid"] for k in keys} == {login.wiring.signer.key.kid, legacy_key.kid}
    assert {k["kid"]: _member_problems(k) for k in keys} == {k["kid"]: [] for k in keys}
    assert all("d" not in k for k in keys)


async def test_pyjwt_loads_the_set_and_verifies_tokens(
    login: Login, legacy_key: SigningKey
) -> None:
    key_set = jwt.PyJWKSet.from_dict(await _jwks(login))
    for token in await _tokens(login, legacy_key):
        key = key_set[jwt.get_unverified_header(token)["kid"]]
        # The key set is what is tested here; audiences are (tests of the verifier's checks).
        claims = jwt.decode(
            token, key.key, algorithms=[key.algorithm_name], options={"verify_aud": False}
        )
        assert claims["sub"]


async def test_joserfc_loads_the_set_and_verifies_tokens(
    login: Login, legacy_key: SigningKey
) -> None:
    key_set = KeySet.import_key_set(await _jwks(login))  # type: ignore[arg-type]
    for token in await _tokens(login, legacy_key):
        claims = joserfc_jwt.decode(token, key_set, algorithms=["RS256", "ES256", "EdDSA"]).claims
        assert claims["sub"]


async def test_authlib_loads_the_set_and_verifies_tokens(
    login: Login, legacy_key: SigningKey
) -> None:
    key_set = JsonWebKey.import_key_set(await _jwks(login))
    for token in await _tokens(login, legacy_key):
        assert authlib_jwt.decode(token, key_set)["sub"]
