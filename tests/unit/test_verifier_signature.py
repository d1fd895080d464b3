"""The verifier's own header parsing and JWKS entries: the key and alg never come from a token."""

from __future__ import annotations

import base64
import json

import pytest

from services.core.keys import SigningKey, generate_private_key, jwk_thumbprint, public_jwk
from services.login.tokens import TokenContext, issue_access_token
from services.verifier.keyring import _jwks_entry
from services.verifier.signature import MAX_TOKEN_CHARS, unverified_kid, verification_key


def _key(alg: str = "ES256") -> SigningKey:
    private = generate_private_key(alg)
    jwk = public_jwk(private)
    return SigningKey(jwk_thumbprint(jwk), alg, private, jwk)


def _b64(doc: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(doc).encode()).rstrip(b"=").decode()


def test_kid_of_a_real_token() -> None:
    key = _key()
    token = issue_access_token(key, TokenContext("i", "eu", "u", "s", "c", ""), 60).token
    assert unverified_kid(token) == key.kid


@pytest.mark.parametrize(
    "token",
    [
        "",
        "no-dots",
        "!!!.x.y",
        _b64([1, 2]) + ".x.y",
        _b64({"alg": "RS256"}) + ".x.y",
        _b64({"kid": 7}) + ".x.y",
        _b64({"kid": ""}) + ".x.y",
        _b64({"kid": "k"}) + "." + "x" * MAX_TOKEN_CHARS,
    ],
    ids=["empty", "no-dots", "bad-base64", "not-object", "no-kid", "int-kid", "empty-kid", "huge"],
)
def test_malformed_headers_have_no_kid(token: str) -> None:
    assert unverified_kid(token) is None


def test_jwks_entry_keeps_region_and_alg_from_the_record() -> None:
    key = _key("RS256")
    entry = {**key.public_jwk, "kid": key.kid, "alg": "RS256", "use": "sig", "region": "us"}
    published = _jwks_entry(entry)
    assert published is not None
    assert (published.kid, published.region, published.alg) == (key.kid, "us", "RS256")
    assert verification_key(published.kid, "us", "RS256", published.public_jwk).alg == "RS256"


@pytest.mark.parametrize("missing", ["kid", "alg", "region"])
def test_jwks_entry_without_kid_alg_or_region_is_skipped(missing: str) -> None:
    key = _key()
    entry = {**key.public_jwk, "kid": key.kid, "alg": "ES256", "region": "us"}
    del entry[missing]
    assert _jwks_entry(entry) is None
    assert _jwks_entry("not a dict") is None


def test_symmetric_alg_in_a_key_record_is_refused() -> None:
    key = _key()
    with pytest.raises(ValueError, match="unsupported alg"):
        verification_key(key.kid, "eu", "HS256", key.public_jwk)
