"""Which access tokens introspection accepts: table-driven over forgeries and every algorithm."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from services.core.keys import SigningKey, b64url, load_or_create
from services.login.tokens import (
    TokenContext,
    VerificationKey,
    issue_access_token,
    new_refresh_token,
    refresh_token_hash,
    unverified_kid,
    verification_key,
    verify_access_token,
)

ISSUER = "https://eu.authplane.local"
ALGS = ("RS256", "ES256", "EdDSA")


def _ctx(region: str = "eu", issuer: str = ISSUER) -> TokenContext:
    return TokenContext(
        issuer=issuer, region=region, user_id="u-1", session_id="s-1", client_id="web", scope=""
    )


@pytest.fixture(scope="module", params=ALGS)
def signing_key(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> SigningKey:
    return load_or_create(tmp_path_factory.mktemp("keys"), "eu", request.param)


def _vkey(key: SigningKey, region: str = "eu", issuer: str = "") -> VerificationKey:
    return verification_key(key.kid, region, key.alg, key.public_jwk, issuer)


def _verify(token: str, key: VerificationKey) -> dict[str, Any] | None:
    return verify_access_token(token, key, own_region="eu", own_issuer=ISSUER)


def _segments(token: str) -> list[str]:
    return token.split(".")


def _unb64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _with_payload(token: str, **changes: Any) -> str:
    head, body, sig = _segments(token)
    claims = json.loads(_unb64(body))
    claims.update(changes)
    return ".".join([head, b64url(json.dumps(claims).encode()), sig])


def _flip_signature(token: str) -> str:
    head, body, sig = _segments(token)
    raw = bytearray(_unb64(sig))
    raw[0] ^= 0x01
    return ".".join([head, body, b64url(bytes(raw))])


def _alg_none(token: str) -> str:
    head, body, _ = _segments(token)
    header = json.loads(_unb64(head)) | {"alg": "none"}
    return ".".join([b64url(json.dumps(header).encode()), body, ""])


def _hs256_with_public_key(token: str, key: SigningKey) -> str:
    """The classic confusion attack: HMAC-sign with the (public) verification key as secret."""
    head, body, _ = _segments(token)
    header = json.loads(_unb64(head)) | {"alg": "HS256"}
    signing_input = f"{b64url(json.dumps(header).encode())}.{body}"
    public_pem = key.private_key.public_key().public_bytes(
        serialization.Encoding.PEM,
        serialization.PublicFormat.SubjectPublicKeyInfo,
    )
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(mac)}"


def test_good_token_verifies_with_its_claims(signing_key: SigningKey) -> None:
    issued = issue_access_token(signing_key, _ctx(), ttl_s=300)
    claims = _verify(issued.token, _vkey(signing_key))
    assert claims is not None
    assert (claims["sub"], claims["sid"], claims["jti"]) == ("u-1", "s-1", issued.jti)
    assert claims["exp"] - claims["iat"] == 300
    assert jwt.get_unverified_header(issued.token)["kid"] == signing_key.kid
    assert unverified_kid(issued.token) == signing_key.kid


Forgery = Callable[[str, SigningKey], str]
FORGERIES: dict[str, Forgery] = {
    "tampered subject": lambda t, _k: _with_payload(t, sub="someone-else"),
    "tampered signature": lambda t, _k: _flip_signature(t),
    "alg none": lambda t, _k: _alg_none(t),
    "hs256 with public key": _hs256_with_public_key,
    "signature stripped": lambda t, _k: t.rsplit(".", 1)[0] + ".",
    "not a jwt": lambda _t, _k: "not-a-token",
    "two segments": lambda t, _k: ".".join(_segments(t)[:2]),
    "garbage base64": lambda _t, _k: "!!!.???.***",
}


@pytest.mark.parametrize("forgery", FORGERIES.values(), ids=FORGERIES.keys())
def test_forged_tokens_are_rejected(signing_key: SigningKey, forgery: Forgery) -> None:
    token = issue_access_token(signing_key, _ctx(), ttl_s=300).token
    assert _verify(forgery(token, signing_key), _vkey(signing_key)) is None


def test_expired_token_is_rejected(signing_key: SigningKey) -> None:
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    token = issue_access_token(signing_key, _ctx(), ttl_s=60, now=an_hour_ago).token
    assert _verify(token, _vkey(signing_key)) is None


def test_token_of_another_key_with_the_same_kid_is_rejected(
    signing_key: SigningKey, tmp_path: Path
) -> None:
    impostor = load_or_create(tmp_path, "eu", signing_key.alg)
    forged = issue_access_token(
        SigningKey(signing_key.kid, impostor.alg, impostor.private_key, impostor.public_jwk),
        _ctx(),
        ttl_s=300,
    ).token
    assert _verify(forged, _vkey(signing_key)) is None


def test_key_record_alg_wins_over_token_header(tmp_path: Path) -> None:
    es = load_or_create(tmp_path, "eu", "ES256")
    token = issue_access_token(es, _ctx(), ttl_s=300).token
    # The same key material recorded under another algorithm must not verify.
    with pytest.raises(ValueError, match="unsupported alg"):
        verification_key(es.kid, "eu", "HS256", es.public_jwk)
    rs = load_or_create(tmp_path, "eu", "RS256")
    assert _verify(token, VerificationKey(es.kid, "eu", "RS256", _vkey(rs).key)) is None


def test_other_regions_tokens_verify_with_their_own_issuer(signing_key: SigningKey) -> None:
    token = issue_access_token(signing_key, _ctx("us", "https://us.example"), ttl_s=300).token
    assert _verify(token, _vkey(signing_key, "us", "https://us.example")) is not None


@pytest.mark.parametrize(
    ("ctx", "key_region"),
    [
        (_ctx("us"), "eu"),  # region claim does not name the key's region
        (_ctx("eu", "https://evil.example"), "eu"),  # own key but a foreign issuer
    ],
    ids=["region mismatch", "own key foreign issuer"],
)
def test_claims_must_fit_the_key(
    signing_key: SigningKey, ctx: TokenContext, key_region: str
) -> None:
    token = issue_access_token(signing_key, ctx, ttl_s=300).token
    assert _verify(token, _vkey(signing_key, region=key_region)) is None


def test_missing_required_claim_is_rejected(signing_key: SigningKey) -> None:
    now = int(datetime.now(UTC).timestamp())
    claims = {"iss": ISSUER, "sub": "u", "jti": "j", "iat": now, "exp": now + 60, "region": "eu"}
    token = jwt.encode(claims, signing_key.private_key, signing_key.alg, {"kid": signing_key.kid})
    assert _verify(token, _vkey(signing_key)) is None


def test_refresh_token_routes_to_its_session_and_is_stored_hashed() -> None:
    token = new_refresh_token("sess-42")
    session_id, _, secret = token.partition(".")
    assert session_id == "sess-42"
    assert len(_unb64(secret)) * 8 >= 256
    assert refresh_token_hash(token) == hashlib.sha256(token.encode()).hexdigest()
    assert new_refresh_token("sess-42") != token


@pytest.mark.parametrize(
    "ctx",
    [
        TokenContext(ISSUER, "eu", "u-1", "s-1", "web", "openid profile", "r-1", "https://api"),
        # Non-ASCII and DEL take the other JSON path; PyJWT escapes them as \uXXXX.
        TokenContext("https://émis.example/\x7f", "eu", "u-\u2028", "s-1", "web", 'a\tb"c\\d'),
    ],
    ids=["ascii", "escaped"],
)
def test_access_token_is_what_pyjwt_would_sign(signing_key: SigningKey, ctx: TokenContext) -> None:
    """Verifiers of any stack see the same bytes as from PyJWT's encoder: header, claims and (for
    the deterministic RS256 and EdDSA) the signature."""
    at = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    token = issue_access_token(signing_key, ctx, ttl_s=300, now=at).token
    claims = jwt.decode(token, options={"verify_signature": False})
    headers = {"kid": signing_key.kid, "typ": "at+jwt"}
    expected = jwt.encode(claims, signing_key.private_key, signing_key.alg, headers)
    if signing_key.alg == "ES256":  # ECDSA signatures are randomised: compare all but them
        assert token.rsplit(".", 1)[0] == expected.rsplit(".", 1)[0]
        public = signing_key.private_key.public_key()
        options = {"verify_exp": False, "verify_aud": False}
        assert jwt.decode(token, public, ["ES256"], options=options) == claims  # type: ignore[arg-type]
    else:
        assert token == expected
