"""Resource servers accept authplane access tokens by RFC 9068 §4's rules, configured from the
region's RFC 8414 metadata over real HTTP: stock PyJWT (``PyJWKClient``, expected audience),
joserfc (RFC 9068 §2.2 claims registry), authlib's RFC 9068 bearer validator, and our own
in-process verifier (typ, audience, scopes)."""

from __future__ import annotations

import asyncio
import base64
import warnings
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest
from joserfc import jwt as jose_jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jwt import JWTClaimsRegistry

from services.devstack.process import free_port
from services.verifier import InvalidToken, Verifier
from tests.integration.client_seeding import (
    APP_ID,
    AUDIENCE,
    OTHER_AUDIENCE,
    RS_ID,
    RS_SECRET,
    SERVICE_ID,
    SERVICE_SECRET,
)
from tests.integration.login_harness import Login, login_fixture, seeded
from tests.integration.served_login import serving

with warnings.catch_warnings():
    # authlib's deprecate module installs an "always" filter on import: ignore after it.
    import authlib.deprecate  # noqa: F401

    warnings.simplefilter("ignore")
    from authlib.oauth2.rfc6750.errors import InsufficientScopeError, InvalidTokenError
    from authlib.oauth2.rfc9068 import JWTBearerTokenValidator

PORT = free_port()
BASE = f"http://127.0.0.1:{PORT}"
PASSWORD = "pw-rfc9068"
METADATA_PATH = "/.well-known/oauth-authorization-server"
RFC9068_CLAIMS = ("iss", "exp", "aud", "sub", "client_id", "iat", "jti")
"""RFC 9068 §2.2: the claims every JWT access token carries."""

login = login_fixture("rfc9068", seeded(("ada", PASSWORD)), public_url=BASE)


@pytest.fixture(scope="module")
async def base(login: Login) -> AsyncIterator[str]:
    async with serving(login, PORT) as url:
        yield url


@pytest.fixture(scope="module")
async def metadata(base: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=base) as client:
        answer = await client.get(METADATA_PATH)
    assert answer.status_code == 200, answer.text
    document: dict[str, Any] = answer.json()
    return document


@pytest.fixture(scope="module")
async def user_token(login: Login) -> str:
    """A password-grant access token of the public first-party test client (default audience
    ``AUDIENCE``, scopes openid profile)."""
    form = {
        "grant_type": "password",
        "username": "ada",
        "password": PASSWORD,
        "client_id": APP_ID,
        "scope": "openid profile",
    }
    answer = await login.client.post("/oauth2/token", data=form)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


@pytest.fixture(scope="module")
async def service_token(login: Login) -> str:
    """A client_credentials access token of the confidential test service."""
    basic = base64.b64encode(f"{SERVICE_ID}:{SERVICE_SECRET}".encode()).decode()
    answer = await login.client.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert answer.status_code == 200, answer.text
    assert "refresh_token" not in answer.json()
    return str(answer.json()["access_token"])


async def test_the_metadata_names_the_issuer_of_the_tokens(
    metadata: dict[str, Any], user_token: str, login: Login
) -> None:
    claims = jwt.decode(user_token, options={"verify_signature": False})
    assert metadata["issuer"] == claims["iss"] == login.settings.token_issuer
    assert metadata["jwks_uri"] == f"{BASE}/.well-known/jwks.json"


def _pyjwt_decode(jwks_uri: str, token: str, audience: str, issuer: str) -> dict[str, Any]:
    """What a PyJWT resource server does (blocking: run in a thread while the endpoint serves)."""
    keys = jwt.PyJWKClient(jwks_uri)
    key = keys.get_signing_key_from_jwt(token)
    algorithms = [key.algorithm_name]
    options: jwt.types.Options = {"require": list(RFC9068_CLAIMS)}
    claims: dict[str, Any] = jwt.decode(
        token, key, algorithms, options=options, audience=audience, issuer=issuer
    )
    return claims


@pytest.mark.parametrize("which", ["user", "service"])
async def test_pyjwt_pyjwkclient_verifies_with_the_expected_audience(
    metadata: dict[str, Any], user_token: str, service_token: str, which: str
) -> None:
    token = user_token if which == "user" else service_token
    assert jwt.get_unverified_header(token)["typ"] == "at+jwt"
    claims = await asyncio.to_thread(
        _pyjwt_decode, metadata["jwks_uri"], token, AUDIENCE, metadata["issuer"]
    )
    assert claims["aud"] == AUDIENCE
    expected_sub = claims["sub"] if which == "user" else SERVICE_ID
    assert claims["sub"] == expected_sub
    assert claims["client_id"] == (APP_ID if which == "user" else SERVICE_ID)


async def test_pyjwt_refuses_a_token_for_another_audience(
    metadata: dict[str, Any], user_token: str
) -> None:
    with pytest.raises(jwt.InvalidAudienceError):
        await asyncio.to_thread(
            _pyjwt_decode, metadata["jwks_uri"], user_token, OTHER_AUDIENCE, metadata["issuer"]
        )


async def _jwks(metadata: dict[str, Any]) -> dict[str, Any]:
    async with httpx.AsyncClient() as client:
        answer = await client.get(metadata["jwks_uri"])
    assert answer.status_code == 200
    keys: dict[str, Any] = answer.json()
    return keys


def _rfc9068_registry(issuer: str, audience: str) -> JWTClaimsRegistry:
    essential: dict[str, Any] = {name: {"essential": True} for name in RFC9068_CLAIMS}
    essential["iss"] = {"essential": True, "value": issuer}
    essential["aud"] = {"essential": True, "value": audience}
    return JWTClaimsRegistry(**essential)


@pytest.mark.parametrize("which", ["user", "service"])
async def test_joserfc_validates_the_rfc9068_header_and_claims(
    metadata: dict[str, Any], user_token: str, service_token: str, which: str
) -> None:
    token = user_token if which == "user" else service_token
    keys = KeySet.import_key_set(await _jwks(metadata))  # type: ignore[arg-type]
    decoded = jose_jwt.decode(token, keys)
    assert decoded.header["typ"] == "at+jwt"  # RFC 9068 §2.1
    _rfc9068_registry(metadata["issuer"], AUDIENCE).validate(decoded.claims)
    with pytest.raises(JoseError):
        _rfc9068_registry(metadata["issuer"], OTHER_AUDIENCE).validate(decoded.claims)


class _Validator(JWTBearerTokenValidator):  # type: ignore[misc]
    """authlib's RFC 9068 validator; a resource server supplies only where the keys come from
    (its documented extension point)."""

    def __init__(self, jwks: dict[str, Any], issuer: str, audience: str) -> None:
        super().__init__(issuer, audience)
        self._keys = KeySet.import_key_set(jwks)  # type: ignore[arg-type]

    def get_jwks(self) -> KeySet:
        return self._keys


async def test_authlib_rfc9068_validator_accepts_ours_and_checks_scope(
    metadata: dict[str, Any], user_token: str
) -> None:
    jwks = await _jwks(metadata)
    validator = _Validator(jwks, metadata["issuer"], AUDIENCE)
    claims = validator.authenticate_token(user_token)
    validator.validate_token(claims, ["openid"], None)
    with pytest.raises(InsufficientScopeError):
        validator.validate_token(claims, ["admin"], None)
    elsewhere = _Validator(jwks, metadata["issuer"], OTHER_AUDIENCE)
    with pytest.raises(InvalidTokenError):
        elsewhere.validate_token(elsewhere.authenticate_token(user_token), [], None)


@pytest.fixture(scope="module")
async def verifier_for(login: Login, metadata: dict[str, Any]) -> AsyncIterator[Any]:
    """``verifier_for(**kw)``: our verifier configured as a resource server would be (keys
    from the metadata's jwks_uri), closed at the end."""
    built: list[Verifier] = []

    async def make(**kw: Any) -> Verifier:
        verifier = await Verifier.connect(
            region=login.settings.region,
            redis_url=login.settings.redis_url,
            postgres_dsn=login.settings.postgres_dsn,
            jwks_url=metadata["jwks_uri"],
            issuer=metadata["issuer"],
            mirror=False,
            **kw,
        )
        built.append(verifier)
        return verifier

    yield make
    for verifier in built:
        await verifier.close()


async def test_our_verifier_accepts_the_expected_audience_and_scopes(
    verifier_for: Any, user_token: str
) -> None:
    verifier = await verifier_for(audience=AUDIENCE, required_scopes=["openid"])
    claims = await verifier.verify(user_token, required_scopes=["profile"])
    assert claims["aud"] == AUDIENCE


async def test_our_verifier_refuses_another_audience(verifier_for: Any, user_token: str) -> None:
    verifier = await verifier_for(audience=OTHER_AUDIENCE)
    with pytest.raises(InvalidToken) as refused:
        await verifier.verify(user_token)
    assert refused.value.reason == "wrong_audience"


async def test_our_verifier_refuses_a_missing_scope(verifier_for: Any, user_token: str) -> None:
    verifier = await verifier_for(audience=AUDIENCE)
    verdict = await verifier.check(user_token, required_scopes=["openid", "admin"])
    assert (verdict.active, verdict.reason) == (False, "insufficient_scope")
    scoped = await verifier_for(audience=AUDIENCE, required_scopes=["email"])
    assert (await scoped.check(user_token)).reason == "insufficient_scope"


def _retyped(login: Login, token: str, typ: str | None) -> str:
    """``token``'s claims signed again by the region's own key with another ``typ`` (None: no
    ``typ`` at all), as a token of an older version (``typ: JWT``) or another kind of JWT."""
    key = login.wiring.signer.key
    claims = jwt.decode(token, options={"verify_signature": False})
    headers: dict[str, Any] = {"kid": key.kid, "typ": typ}
    return jwt.encode(claims, key.private_key, algorithm=key.alg, headers=headers)


@pytest.mark.parametrize("typ", ["JWT", None, "id_token+jwt", "application/jwt"])
async def test_our_verifier_refuses_tokens_not_typed_at_jwt(
    verifier_for: Any, login: Login, user_token: str, typ: str | None
) -> None:
    verifier = await verifier_for(audience=AUDIENCE)
    verdict = await verifier.check(_retyped(login, user_token, typ))
    assert (verdict.active, verdict.reason) == (False, "invalid")


@pytest.mark.parametrize("typ", ["at+jwt", "application/at+jwt", "AT+JWT"])
async def test_our_verifier_accepts_the_rfc9068_spellings_of_typ(
    verifier_for: Any, login: Login, user_token: str, typ: str
) -> None:
    verifier = await verifier_for(audience=AUDIENCE)
    assert (await verifier.check(_retyped(login, user_token, typ))).active


@pytest.mark.parametrize(("typ", "accepted"), [("JWT", True), (None, True), ("dpop+jwt", False)])
async def test_legacy_typ_is_accepted_only_when_asked_for(
    verifier_for: Any, login: Login, user_token: str, typ: str | None, accepted: bool
) -> None:
    verifier = await verifier_for(audience=AUDIENCE, accept_legacy_typ=True)
    assert (await verifier.check(_retyped(login, user_token, typ))).active is accepted


async def test_introspection_refuses_tokens_not_typed_at_jwt(login: Login, user_token: str) -> None:
    """The login endpoint's introspection runs the same verifier (no audience: it answers
    ``aud`` to the resource server, RFC 7662 §2.2), typ check included."""
    basic = base64.b64encode(f"{RS_ID}:{RS_SECRET}".encode()).decode()
    headers = {"Authorization": f"Basic {basic}"}
    for token, active in ((user_token, True), (_retyped(login, user_token, "JWT"), False)):
        answer = await login.client.post(
            "/oauth2/introspect", data={"token": token}, headers=headers
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["active"] is active
