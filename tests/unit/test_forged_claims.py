"""Validly signed tokens with insane claims are refused by the one claim rule, never crash it."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.settings import default_issuer
from services.core.keys import SigningKey, load_or_create
from services.core.readmodel import PublishedKey
from services.login.jwks import jwks_entries
from services.verifier.claims import claims_problem
from services.verifier.keyring import Keyring, jwks_loader
from services.verifier.signature import verification_key, verify_access_token
from tests.unit.forged_claims import FORGERIES, forged_token, genuine_claims, sign

EU_ISSUER = default_issuer("eu")


@pytest.fixture(scope="module", params=["RS256", "ES256", "EdDSA"])
def eu_key(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> SigningKey:
    return load_or_create(tmp_path_factory.mktemp("keys"), "eu", request.param)


def _verify_in(region: str, key: SigningKey, token: str, issuer: str = "") -> Any:
    vkey = verification_key(key.kid, "eu", key.alg, key.public_jwk, issuer)
    return verify_access_token(token, vkey, own_region=region, own_issuer=default_issuer(region))


@pytest.mark.parametrize("region", ["eu", "us"])
def test_genuine_claims_verify_in_every_region(eu_key: SigningKey, region: str) -> None:
    token = sign(eu_key, genuine_claims("eu", EU_ISSUER))
    assert _verify_in(region, eu_key, token) is not None


@pytest.mark.parametrize("region", ["eu", "us"])
@pytest.mark.parametrize("case", sorted(FORGERIES))
def test_a_forged_token_is_refused_in_every_region(
    eu_key: SigningKey, case: str, region: str
) -> None:
    token = forged_token(eu_key, case, "eu", EU_ISSUER)
    assert _verify_in(region, eu_key, token) is None


def test_a_key_published_with_its_issuer_verifies_only_that_issuer(eu_key: SigningKey) -> None:
    custom = "https://login.eu.example"
    token = sign(eu_key, genuine_claims("eu", custom))
    for region in ("eu", "us"):
        assert _verify_in(region, eu_key, token, issuer=custom) is not None
        default = sign(eu_key, genuine_claims("eu", EU_ISSUER))
        assert _verify_in(region, eu_key, default, issuer=custom) is None


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=6,
)
_names = st.sampled_from(
    ["exp", "iat", "nbf", "iss", "sub", "sid", "jti", "region", "aud", "scope", "client_id"]
)


@given(st.dictionaries(_names, _json))
def test_the_claim_rule_answers_for_any_payload(claims: dict[str, Any]) -> None:
    problem = claims_problem(claims, now_s=1_800_000_000.0, leeway_s=10)
    assert problem is None or isinstance(problem, str)


async def test_a_verifier_fed_by_jwks_ties_keys_to_the_published_issuer(
    eu_key: SigningKey,
) -> None:
    custom = "https://login.eu.example"
    published = [PublishedKey(eu_key.kid, "eu", eu_key.alg, dict(eu_key.public_jwk), "", custom)]
    body = orjson.dumps({"keys": jwks_entries(published, "us", default_issuer("us"))})
    transport = httpx.MockTransport(lambda _request: httpx.Response(200, content=body))
    async with httpx.AsyncClient(transport=transport) as client:
        keyring = Keyring(None, jwks_loader(client, "http://eu.test/.well-known/jwks.json"))
        key = await keyring.get(eu_key.kid)
    assert key is not None
    own: dict[str, Any] = {"own_region": "us", "own_issuer": default_issuer("us")}
    assert verify_access_token(sign(eu_key, genuine_claims("eu", custom)), key, **own)
    assert not verify_access_token(sign(eu_key, genuine_claims("eu", EU_ISSUER)), key, **own)
