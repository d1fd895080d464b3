"""Passwords prepared per RFC 8265 on every path that takes one (password grant, POST
/v1/password, authctl), and hashes from before the change re-hashed without revoking anything."""

from __future__ import annotations

import asyncio
import unicodedata
from pathlib import Path

import httpx
import pytest
from argon2 import PasswordHasher

from schemas import names
from schemas.envelope import Envelope, wrap
from schemas.events import LoginFailed, PasswordChanged, PasswordRehashed, UserRegistered
from schemas.identity import user_id_for
from schemas.settings import Settings
from schemas.topics import ensure_topics
from services.core.passwords import make_hasher
from services.core.readmodel import make_engine
from services.login.account import Accounts
from tests.integration.login_harness import APP, Login, events_on_topic
from tests.integration.login_seeding import (
    project,
    registered_hash,
    seed_user_postgres,
    seed_user_redis,
)
from tests.integration.test_authctl import _authctl, _one_line_error, _stack
from tests.integration.test_login_introspect import BASIC
from tests.integration.test_projector_support import as_log, projector_on

NFC = "Mañana-Contraseña-2026"
NFD = unicodedata.normalize("NFD", NFC)


async def _token(login: Login, username: str, password: str) -> httpx.Response:
    form = {"grant_type": "password", **APP, "username": username, "password": password}
    return await login.client.post("/oauth2/token", data=form)


async def _events_of(login: Login, user_id: str, until_type: str) -> list[Envelope]:
    """Every event of the user up to (at least) the first of ``until_type``."""
    seen: list[Envelope] = []

    def wanted(envelope: Envelope) -> bool:
        if envelope.user_id == user_id:
            seen.append(envelope)
        return envelope.user_id == user_id and envelope.type == until_type

    await events_on_topic(login.settings.kafka_bootstrap, wanted)
    return seen


async def test_an_nfd_login_for_an_nfc_password_succeeds_and_is_no_failure(login: Login) -> None:
    user_id = await seed_user_redis(login.settings, "maria", NFC)
    response = await _token(login, "maria", NFD)
    assert response.status_code == 200, response.text
    types = [e.type for e in await _events_of(login, user_id, "session.started")]
    assert LoginFailed.TYPE not in types
    assert PasswordRehashed.TYPE not in types  # the stored hash was of the prepared text


async def _seed_legacy_user(login: Login, username: str, raw_password: str) -> tuple[str, str]:
    """A registration as the code before RFC 8265 preparation stored it (hash of the raw text)."""
    legacy_hash = make_hasher(login.settings).hash(raw_password)
    registration = registered_hash(login.settings, username, legacy_hash)
    await project([registration], redis_url=login.settings.redis_url)
    return str(registration.user_id), registration.event_id


async def test_a_hash_from_before_is_rehashed_at_login_without_revoking_sessions(
    login: Login,
) -> None:
    user_id, registration = await _seed_legacy_user(login, "nuria", NFD)
    first = await _token(login, "nuria", NFD)
    assert first.status_code == 200, first.text

    events = await _events_of(login, user_id, PasswordRehashed.TYPE)
    assert {e.type for e in events} == {"session.started", PasswordRehashed.TYPE}
    [rehash] = [e for e in events if e.type == PasswordRehashed.TYPE]
    assert rehash.payload.replaces_event_id == registration
    assert PasswordHasher().verify(rehash.payload.password_hash, NFC)

    # The region's projector applies it: the NFC form now logs in too, and nothing was revoked.
    async with projector_on(login.settings.redis_url, login.settings.postgres_dsn) as stores:
        await stores.projector.apply(as_log([rehash]))
        assert not await stores.redis.exists(names.redis_user_not_before_key(user_id))
    assert (await _token(login, "nuria", NFC)).status_code == 200
    introspected = await login.client.post(
        "/oauth2/introspect",
        data={"token": first.json()["access_token"]},
        headers={"Authorization": BASIC},
    )
    assert introspected.json()["active"] is True


def _registered(username: str, password_hash: str) -> Envelope:
    return wrap(
        UserRegistered(username=username, password_hash=password_hash),
        user_id=user_id_for(username),
        origin_region="eu",
        correlation_id="",
    )


@pytest.mark.parametrize("order", ["rehash_first", "change_first"])
async def test_a_rehash_never_brings_back_a_changed_password(
    fresh_redis_url: str, fresh_postgres_dsn: str, order: str
) -> None:
    """In whatever order a re-hash and a password change are applied, the change wins, in Redis
    and in Postgres (the fallback) alike; with no change, the re-hash is what is verified."""
    registration = _registered("olga", "hash-registered")
    user_id = registration.user_id
    rehash = wrap(
        PasswordRehashed(password_hash="hash-rehashed", replaces_event_id=registration.event_id),
        user_id=user_id,
        origin_region="us",
        correlation_id="",
    )
    change = wrap(
        PasswordChanged(password_hash="hash-changed", changed_by="user"),
        user_id=user_id,
        origin_region="eu",
        correlation_id="",
    )
    engine = make_engine(fresh_postgres_dsn)
    async with projector_on(fresh_redis_url, fresh_postgres_dsn) as stores:
        accounts = Accounts(stores.redis, engine)
        await stores.projector.apply(as_log([registration, rehash]))
        for read in (accounts._from_redis, accounts._from_postgres):
            found = await read(user_id)
            assert found is not None
            assert found.password_hash == "hash-rehashed"
        later = [rehash, change] if order == "rehash_first" else [change, rehash]
        await stores.projector.apply(as_log(later, first_offset=2))
        for read in (accounts._from_redis, accounts._from_postgres):
            found = await read(user_id)
            assert found is not None
            assert found.password_hash == "hash-changed"
            assert found.password_event_id == change.event_id
    await engine.dispose()


async def test_disallowed_code_points_get_a_clear_400_on_login_and_password_change(
    login: Login,
) -> None:
    user_id = await seed_user_redis(login.settings, "pablo", NFC)
    refused = await _token(login, "pablo", "bell\x07")
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_request"
    assert "control character" in refused.json()["error_description"]
    assert "\x07" not in refused.text

    token = (await _token(login, "pablo", NFD)).json()["access_token"]
    change = await login.client.post(
        "/v1/password",
        data={"old_password": NFD, "new_password": "new\u200dpassword"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert change.status_code == 400, change.text
    assert "new_password" in change.json()["error_description"]
    types = [e.type for e in await _events_of(login, user_id, "session.started")]
    assert LoginFailed.TYPE not in types


async def test_authctl_prepares_the_password_and_refuses_disallowed_ones(
    tmp_path: Path, kafka_bootstrap: str, fresh_postgres_dsn: str
) -> None:
    await ensure_topics(kafka_bootstrap, 2, 1)
    stack = _stack(tmp_path, kafka_bootstrap, fresh_postgres_dsn)
    refused = await asyncio.to_thread(
        _authctl, stack, "user", "create", "quim", "--password-stdin", stdin="bell\x07\n"
    )
    _one_line_error(refused, "control character")

    created = await asyncio.to_thread(
        _authctl, stack, "user", "create", "rosa", "--password-stdin", stdin=NFD + "\n"
    )
    assert created.returncode == 0, created.stderr
    events = await events_on_topic(
        kafka_bootstrap,
        lambda e: e.type == UserRegistered.TYPE and e.payload.username == "rosa",
    )
    assert PasswordHasher().verify(events[0].payload.password_hash, NFC)

    await seed_user_postgres(Settings(), fresh_postgres_dsn, "sara", NFC)
    refused = await asyncio.to_thread(
        _authctl, stack, "user", "set-password", "sara", "--password-stdin", stdin="a\x00b\n"
    )
    _one_line_error(refused, "control character")
