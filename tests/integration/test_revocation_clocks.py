"""User-wide revocations against wrong and coarse clocks, on a real login endpoint, broker, Redis
and Postgres, with the region's projector run on demand.

- A login in the same wall-clock second as a password change (after the region applied it) gives
  tokens that are active and refreshable; what was issued before stays dead.
- A region whose clock runs up to the skew bound fast cannot mint a token (or session) that
  survives a later revocation, and one whose clock runs slow does not lose logins made after it.
The region's clock is shifted through the password grant's clock seam (``PasswordGrant.clock``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from schemas.events import PasswordChanged
from schemas.identity import user_id_for
from services.admin.revocation import Found, revocation
from services.core.readmodel import list_sessions, make_engine
from services.devstack.process import ManagedProcess
from services.login.clock import system_clock
from tests.integration.login_harness import APP, login_settings, running_login
from tests.integration.login_seeding import seed_user_redis
from tests.integration.refresh_harness import PASSWORD, Region, projected_region

USER = "clara"
NEW_PASSWORD = "a new and different passphrase"
FAST = timedelta(seconds=8)


@pytest.fixture
async def region(
    tmp_path: Path, broker: ManagedProcess, fresh_redis_url: str, fresh_postgres_dsn: str
) -> AsyncIterator[Region]:
    settings = login_settings(tmp_path, broker.address, fresh_redis_url, fresh_postgres_dsn)
    async with running_login(settings) as login:
        await seed_user_redis(settings, USER, PASSWORD)
        async with projected_region(login, fresh_redis_url, fresh_postgres_dsn) as r:
            yield r


async def _login(region: Region, password: str) -> dict[str, Any]:
    form = {"grant_type": "password", **APP, "username": USER, "password": password}
    response = await region.login.client.post("/oauth2/token", data=form)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _change_password(region: Region, access_token: str) -> datetime:
    """POST /v1/password, projected; returns when the change happened (the revocation's cut-off)."""
    form = {"old_password": PASSWORD, "new_password": NEW_PASSWORD}
    headers = {"Authorization": f"Bearer {access_token}"}
    response = await region.login.client.post("/v1/password", data=form, headers=headers)
    assert response.status_code == 204, response.text
    await region.pump()
    changes = [e for e in region.seen if isinstance(e.payload, PasswordChanged)]
    assert len(changes) == 1
    return changes[0].occurred_at


async def _revoke_user(region: Region) -> None:
    """What ``authctl revoke user`` writes (with the operator's correct clock), projected."""
    settings = region.login.settings
    found = Found(user_id=user_id_for(USER))
    event = revocation(settings, "user", USER, found, "test", "operator:test", settings.region)
    await region.login.wiring.publisher.publish(event)
    await region.pump()


async def _refreshable(region: Region, body: dict[str, Any]) -> bool:
    response = await region.refresh(body["refresh_token"])
    if response.status_code != 200:
        assert response.json()["error"] == "invalid_grant", response.text
        return False
    return await region.active(response.json()["access_token"])


def _sid(body: dict[str, Any]) -> str:
    return str(body["refresh_token"].partition(".")[0])


async def _listed_revoked(region: Region) -> dict[str, bool]:
    engine = make_engine(region.stores.dsn)
    try:
        rows = await list_sessions(engine, user_id_for(USER))
    finally:
        await engine.dispose()
    return {row.session_id: row.revoked for row in rows}


async def test_a_login_in_the_same_second_as_a_password_change_survives_it(
    region: Region,
) -> None:
    old = await _login(region, PASSWORD)
    await region.pump()
    changed_at = await _change_password(region, old["access_token"])
    # The region's clock reads the very moment of the change: iat is that same second.
    region.login.wiring.password_grant.clock = lambda: changed_at
    new = await _login(region, NEW_PASSWORD)
    await region.pump()
    assert await region.active(new["access_token"])
    assert await _refreshable(region, new)
    assert not await region.active(old["access_token"])
    assert not await _refreshable(region, old)


async def test_a_region_with_a_fast_clock_cannot_outlive_a_later_revocation(
    region: Region,
) -> None:
    region.login.wiring.password_grant.clock = lambda: system_clock() + FAST
    skewed = await _login(region, PASSWORD)  # iat 8 s ahead: still accepted (10 s leeway)
    await region.pump()
    assert await region.active(skewed["access_token"])
    await _revoke_user(region)
    assert not await region.active(skewed["access_token"])
    assert not await _refreshable(region, skewed)
    # ``authctl sessions list`` (Postgres) says the same.
    assert await _listed_revoked(region) == {_sid(skewed): True}


async def test_a_region_with_a_slow_clock_keeps_logins_made_after_a_revocation(
    region: Region,
) -> None:
    before = await _login(region, PASSWORD)
    await region.pump()
    await _revoke_user(region)
    region.login.wiring.password_grant.clock = lambda: system_clock() - FAST
    after = await _login(region, PASSWORD)  # iat 8 s before the revocation's not-before
    await region.pump()
    assert await region.active(after["access_token"])
    assert await _refreshable(region, after)
    assert not await region.active(before["access_token"])
    assert not await _refreshable(region, before)
    assert await _listed_revoked(region) == {_sid(before): True, _sid(after): False}
