"""Tokens signed with a region's real key but carrying insane claims: every region refuses them
the same way (never active, never 5xx), whichever region introspects."""

from __future__ import annotations

from functools import partial

import httpx
import pytest

from services.core import keys
from services.core.keys import SigningKey
from services.devstack.stack import INTROSPECTION_CLIENT_ID, Stack
from tests.e2e.drive import eventually, login_url
from tests.unit.forged_claims import FORGERIES, forged_token, genuine_claims, sign

REGIONS = ("eu", "us")


def _introspection(stack: Stack, region: str, token: str) -> httpx.Response:
    return httpx.post(
        f"{login_url(stack, region)}/oauth2/introspect",
        data={"token": token},
        auth=(INTROSPECTION_CLIENT_ID, stack.introspection_secret),
    )


@pytest.fixture(scope="module")
def eu_key(stack: Stack) -> SigningKey:
    """eu's signing key, once every region verifies its genuine tokens (the control)."""
    settings = stack.settings["eu"]
    key = keys.load(settings.key_dir, "eu", settings.signing_alg)
    control = sign(key, genuine_claims("eu", settings.token_issuer))
    for region in REGIONS:
        eventually(partial(_active, stack, region, control))
    return key


def _active(stack: Stack, region: str, token: str) -> bool:
    return bool(_introspection(stack, region, token).json()["active"])


@pytest.mark.parametrize("case", sorted(FORGERIES))
def test_a_forged_token_is_inactive_in_every_region(
    stack: Stack, eu_key: SigningKey, case: str
) -> None:
    token = forged_token(eu_key, case, "eu", stack.settings["eu"].token_issuer)
    for region in REGIONS:
        response = _introspection(stack, region, token)
        assert response.status_code == 200, (region, response.text)
        assert response.json() == {"active": False}, region
