"""The access-token type (RFC 9068 §2.1, §4) and a resource server's audience and scope
expectations, table-driven against the pure rules and the real signature check."""

from __future__ import annotations

from typing import Any

import jwt
import pytest

from services.core.keys import SigningKey, generate_private_key, jwk_thumbprint, public_jwk
from services.login.tokens import TokenContext, issue_access_token
from services.verifier.expectations import (
    INSUFFICIENT_SCOPE,
    WRONG_AUDIENCE,
    audiences_of,
    scopes_of,
    unmet_expectation,
)
from services.verifier.signature import type_accepted, verification_key, verify_access_token

ISSUER = "https://eu.authplane.local"
AUD = "https://api.example"


@pytest.mark.parametrize(
    ("typ", "strict", "legacy"),
    [
        ("at+jwt", True, True),
        ("application/at+jwt", True, True),
        ("At+JWT", True, True),
        ("JWT", False, True),
        ("jwt", False, True),
        ("application/jwt", False, True),
        (None, False, True),
        ("", False, False),
        ("id_token+jwt", False, False),
        ("dpop+jwt", False, False),
        ("at+jwt ", False, False),
        (7, False, False),
        (["at+jwt"], False, False),
    ],
)
def test_token_type(typ: Any, strict: bool, legacy: bool) -> None:
    header = {} if typ is None else {"typ": typ}
    assert type_accepted(header) is strict
    assert type_accepted(header, accept_legacy_typ=True) is legacy


@pytest.fixture(scope="module")
def key() -> SigningKey:
    private = generate_private_key("ES256")
    jwk = public_jwk(private)
    return SigningKey(jwk_thumbprint(jwk), "ES256", private, jwk)


def _token(key: SigningKey, typ: str | None) -> str:
    token = issue_access_token(key, TokenContext(ISSUER, "eu", "u", "s", "c", "a b", "", AUD), 60)
    claims = jwt.decode(token.token, options={"verify_signature": False})
    return jwt.encode(
        claims, key.private_key, algorithm=key.alg, headers={"kid": key.kid, "typ": typ}
    )


def _verify(key: SigningKey, token: str, **kw: Any) -> dict[str, Any] | None:
    vkey = verification_key(key.kid, "eu", key.alg, dict(key.public_jwk), ISSUER)
    return verify_access_token(token, vkey, own_region="eu", own_issuer=ISSUER, **kw)


def test_issued_tokens_are_typed_at_jwt_and_verify(key: SigningKey) -> None:
    token = issue_access_token(key, TokenContext(ISSUER, "eu", "u", "s", "c", "", "", AUD), 60)
    assert jwt.get_unverified_header(token.token)["typ"] == "at+jwt"
    assert _verify(key, token.token) is not None


@pytest.mark.parametrize("typ", ["JWT", None])
def test_a_genuine_jwt_typed_otherwise_verifies_only_as_legacy(
    key: SigningKey, typ: str | None
) -> None:
    token = _token(key, typ)
    assert _verify(key, token) is None
    assert _verify(key, token, accept_legacy_typ=True) is not None


@pytest.mark.parametrize(
    ("claims", "audiences"),
    [
        ({}, set()),
        ({"aud": AUD}, {AUD}),
        ({"aud": [AUD, "b"]}, {AUD, "b"}),
        ({"aud": []}, set()),
    ],
)
def test_audiences_of(claims: dict[str, Any], audiences: set[str]) -> None:
    assert audiences_of(claims) == audiences


@pytest.mark.parametrize(
    ("claims", "scopes"),
    [({}, set()), ({"scope": ""}, set()), ({"scope": "a  b"}, {"a", "b"})],
)
def test_scopes_of(claims: dict[str, Any], scopes: set[str]) -> None:
    assert scopes_of(claims) == scopes


@pytest.mark.parametrize(
    ("claims", "audience", "required", "unmet"),
    [
        ({"aud": AUD, "scope": "a b"}, AUD, ["a"], None),
        ({"aud": ["x", AUD], "scope": "a b"}, AUD, ["a", "b"], None),
        ({"scope": "a"}, None, [], None),
        ({"aud": AUD}, None, [], None),
        ({}, AUD, [], WRONG_AUDIENCE),
        ({"aud": "https://API.example"}, AUD, [], WRONG_AUDIENCE),
        ({"aud": [AUD + "/"]}, AUD, [], WRONG_AUDIENCE),
        ({"aud": AUD}, AUD, ["a"], INSUFFICIENT_SCOPE),
        ({"aud": AUD, "scope": "ab"}, AUD, ["a"], INSUFFICIENT_SCOPE),
        ({"aud": "other", "scope": ""}, AUD, ["a"], WRONG_AUDIENCE),
    ],
)
def test_unmet_expectation(
    claims: dict[str, Any], audience: str | None, required: list[str], unmet: str | None
) -> None:
    assert unmet_expectation(claims, audience, required) == unmet
