"""Tokens minted by a region whose clock runs slightly ahead (or behind) stay valid elsewhere."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.core.keys import SigningKey, generate_private_key, jwk_thumbprint, public_jwk
from services.login.tokens import TokenContext, issue_access_token
from services.verifier.signature import (
    CLOCK_SKEW_LEEWAY_S,
    verification_key,
    verify_access_token,
)

EU = TokenContext("https://eu.authplane.local", "eu", "user-1", "sess-1", "web", "")


def _eu_key() -> SigningKey:
    private = generate_private_key("ES256")
    jwk = public_jwk(private)
    return SigningKey(jwk_thumbprint(jwk), "ES256", private, jwk)


def _verify_in_us(signing: SigningKey, token: str) -> bool:
    key = verification_key(signing.kid, "eu", signing.alg, dict(signing.public_jwk))
    claims = verify_access_token(token, key, own_region="us", own_issuer="https://us.local")
    return claims is not None


@pytest.mark.parametrize("skew_s", [1, 3, CLOCK_SKEW_LEEWAY_S - 1])
def test_a_token_from_a_clock_running_ahead_verifies(skew_s: int) -> None:
    signing = _eu_key()
    ahead = datetime.now(UTC) + timedelta(seconds=skew_s)
    token = issue_access_token(signing, EU, ttl_s=900, now=ahead).token
    assert _verify_in_us(signing, token)


def test_a_clock_far_ahead_is_still_refused() -> None:
    signing = _eu_key()
    ahead = datetime.now(UTC) + timedelta(seconds=CLOCK_SKEW_LEEWAY_S + 60)
    token = issue_access_token(signing, EU, ttl_s=900, now=ahead).token
    assert not _verify_in_us(signing, token)


def test_an_expired_token_is_refused_beyond_the_leeway() -> None:
    signing = _eu_key()
    long_ago = datetime.now(UTC) - timedelta(seconds=900 + CLOCK_SKEW_LEEWAY_S + 5)
    token = issue_access_token(signing, EU, ttl_s=900, now=long_ago).token
    assert not _verify_in_us(signing, token)
