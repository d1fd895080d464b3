"""Signing-key rotation and revocation on a real login endpoint: a replaced key file is
published, then used; old tokens keep verifying; a revoked key's tokens die at once and the
endpoint re-keys itself."""

from __future__ import annotations

import asyncio
import stat

import jwt

from schemas.events import SigningKeyPublished, SigningKeyRevoked
from services.core import keys
from tests.integration.login_harness import (
    APP,
    INTROSPECTION_ID,
    INTROSPECTION_SECRET,
    Login,
    events_on_topic,
    login_fixture,
    seeded,
)
from tests.integration.test_projector_support import as_log, event, projector_on

login = login_fixture(
    scope="function",
    broker="own",
    prepare=seeded(("alice", "pw")),
    key_watch_interval_s=0.05,
    signing_alg="ES256",
)


async def project_published_keys(login: Login) -> set[str]:
    s = login.settings
    published = await events_on_topic(
        s.kafka_bootstrap, lambda e: e.type == SigningKeyPublished.TYPE
    )
    async with projector_on(s.redis_url, s.postgres_dsn) as stores:
        await stores.projector.apply(as_log(published))
    return {e.payload.kid for e in published}


async def token_of(login: Login) -> str:
    form = {"grant_type": "password", **APP, "username": "alice", "password": "pw"}
    response = await login.client.post("/oauth2/token", data=form)
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


async def active(login: Login, token: str) -> bool:
    response = await login.client.post(
        "/oauth2/introspect", data={"token": token}, auth=(INTROSPECTION_ID, INTROSPECTION_SECRET)
    )
    return bool(response.json()["active"])


async def until(check: object, within_s: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + within_s
    while not await check():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_a_replaced_key_file_is_published_then_signs_and_old_tokens_stay_valid(
    login: Login,
) -> None:
    s = login.settings
    old_token = await token_of(login)
    await project_published_keys(login)  # as this region's projector would have long ago
    new = keys.signing_key(keys.generate_private_key("ES256"), "ES256")
    keys.install(s.key_dir, s.region, new)

    async def signs_with_new() -> bool:
        return bool(jwt.get_unverified_header(await token_of(login))["kid"] == new.kid)

    await until(signs_with_new)
    assert await active(login, old_token)
    published = await project_published_keys(login)
    assert new.kid in published  # published before it signed
    await login.wiring.keyring.refresh()
    assert await active(login, old_token)
    assert await active(login, await token_of(login))
    listed = {k.kid for k in await login.wiring.keyring.published()}
    assert listed == {new.kid, jwt.get_unverified_header(old_token)["kid"]}


async def test_a_revoked_key_kills_its_tokens_at_once_and_the_endpoint_rekeys(
    login: Login,
) -> None:
    s = login.settings
    token = await token_of(login)
    kid = jwt.get_unverified_header(token)["kid"]
    revoked = event(SigningKeyRevoked(kid=kid, reason="leaked", revoked_by="op"), None)
    async with projector_on(s.redis_url, s.postgres_dsn) as stores:
        await stores.projector.apply(as_log([revoked]))
    assert not await active(login, token)

    async def rekeyed() -> bool:
        return bool(login.wiring.signer.key.kid != kid)

    await until(rekeyed)
    fresh = await token_of(login)
    assert jwt.get_unverified_header(fresh)["kid"] != kid
    assert await active(login, fresh)
    key_file = keys.key_path(s.key_dir, s.region, "ES256")
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert keys.load(s.key_dir, s.region, "ES256").kid == login.wiring.signer.key.kid


async def test_an_unusable_replacement_keeps_the_current_key(login: Login) -> None:
    s = login.settings
    before = login.wiring.signer.key.kid
    path = keys.key_path(s.key_dir, s.region, "ES256")
    path.write_bytes(b"not a key")
    await asyncio.sleep(0.3)
    assert login.wiring.signer.key.kid == before
    assert await active(login, await token_of(login))
