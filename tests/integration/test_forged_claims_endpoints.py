"""Forged but validly signed tokens against every endpoint that reads a bearer token, and against
the in-process verifier as a resource server in either region builds it: never active, never 5xx.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

import pytest

from services.core.keys import SigningKey
from services.verifier import Verifier
from tests.integration.login_harness import (
    APP,
    INTROSPECTION_ID,
    INTROSPECTION_SECRET,
    Login,
    login_fixture,
)
from tests.integration.login_seeding import project_signing_key, seed_user_redis
from tests.unit.forged_claims import FORGERIES, forged_token, genuine_claims, sign

BASIC = "Basic " + base64.b64encode(f"{INTROSPECTION_ID}:{INTROSPECTION_SECRET}".encode()).decode()
CASES = sorted(FORGERIES)


async def _prepare(login: Login) -> None:
    await seed_user_redis(login.settings, "ivan", "pw-ivan")
    await _project_own_key(login)


login = login_fixture("forged", _prepare)


async def _project_own_key(login: Login) -> None:
    """What eu's projector writes for eu's signing_key.published event."""
    s = login.settings
    await project_signing_key(s.redis_url, login.wiring.signer.key, "eu", s.token_issuer)


@pytest.fixture(scope="module", params=["eu", "us"])
async def verifier(request: pytest.FixtureRequest, login: Login) -> AsyncIterator[Verifier]:
    """A resource server's in-process verifier in region eu or us, on eu's stores."""
    built = await Verifier.connect(
        region=request.param,
        redis_url=login.settings.redis_url,
        postgres_dsn=login.settings.postgres_dsn,
        issuer=f"https://{request.param}.authplane.local",
        mirror=False,
    )
    yield built
    await built.close()


def _key(login: Login) -> SigningKey:
    return login.wiring.signer.key


def _forged(login: Login, case: str) -> str:
    return forged_token(_key(login), case, "eu", login.settings.token_issuer)


async def test_the_genuine_control_is_active(login: Login, verifier: Verifier) -> None:
    token = sign(_key(login), genuine_claims("eu", login.settings.token_issuer))
    response = await login.client.post(
        "/oauth2/introspect", data={"token": token}, headers={"Authorization": BASIC}
    )
    assert response.json()["active"] is True
    assert (await verifier.check(token)).active


@pytest.mark.parametrize("case", CASES)
async def test_introspection_answers_inactive(login: Login, case: str) -> None:
    response = await login.client.post(
        "/oauth2/introspect", data={"token": _forged(login, case)}, headers={"Authorization": BASIC}
    )
    assert response.status_code == 200
    assert response.json() == {"active": False}


@pytest.mark.parametrize("case", CASES)
async def test_revocation_answers_200_and_revokes_nothing(login: Login, case: str) -> None:
    form = {"token": _forged(login, case), **APP}
    response = await login.client.post("/oauth2/revoke", data=form)
    assert response.status_code == 200
    labels = {"endpoint": "revoke", "outcome": "revoked"}
    revoked = login.wiring.metrics.registry.get_sample_value(
        "authplane_revocation_requests_total", labels
    )
    assert not revoked


@pytest.mark.parametrize("case", CASES)
async def test_logout_refuses_the_bearer(login: Login, case: str) -> None:
    response = await login.client.post(
        "/v1/logout", headers={"Authorization": f"Bearer {_forged(login, case)}"}
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"


@pytest.mark.parametrize("case", CASES)
async def test_password_change_refuses_the_bearer(login: Login, case: str) -> None:
    response = await login.client.post(
        "/v1/password",
        data={"old_password": "pw-ivan", "new_password": "a new long passphrase 1"},
        headers={"Authorization": f"Bearer {_forged(login, case)}"},
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"


@pytest.mark.parametrize("case", CASES)
async def test_the_in_process_verifier_refuses(login: Login, verifier: Verifier, case: str) -> None:
    verdict = await verifier.check(_forged(login, case))
    assert not verdict.active
    assert verdict.reason == "invalid"
