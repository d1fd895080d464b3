"""A resource server using PyJWT's PyJWKClient against either region's JWKS URL verifies tokens
of every region (the JWK Set is valid RFC 7517 for stock clients)."""

from __future__ import annotations

import jwt
import pytest

from services.core import keys
from services.devstack.stack import Stack
from tests.e2e.drive import eventually, login_url
from tests.unit.forged_claims import genuine_claims, sign


def _verified_with_jwks_of(stack: Stack, region: str, token: str) -> dict[str, object] | None:
    client = jwt.PyJWKClient(f"{login_url(stack, region)}/.well-known/jwks.json", cache_keys=False)
    try:
        key = client.get_signing_key_from_jwt(token)
    except jwt.PyJWKClientError:
        return None  # the issuing region's key has not reached this region yet
    claims: dict[str, object] = jwt.decode(token, key.key, algorithms=[key.algorithm_name])
    return claims


@pytest.mark.parametrize("issuing", ["eu", "us"])
@pytest.mark.parametrize("verifying", ["eu", "us"])
def test_pyjwkclient_verifies_every_regions_tokens(
    stack: Stack, issuing: str, verifying: str
) -> None:
    settings = stack.settings[issuing]
    key = keys.load(settings.key_dir, issuing, settings.signing_alg)
    token = sign(key, genuine_claims(issuing, settings.token_issuer))
    claims = eventually(lambda: _verified_with_jwks_of(stack, verifying, token))
    assert claims["iss"] == settings.token_issuer
