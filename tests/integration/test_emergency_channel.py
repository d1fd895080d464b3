"""The emergency login channel in one region, on a real broker, Redis and Postgres.

The log is cut from the login endpoint by freezing the broker process (SIGSTOP): connections
stay open and nothing answers, exactly "the log does not acknowledge within the produce timeout";
SIGCONT brings it back with every topic intact. The region's projector is run on demand
(``Region.pump``), so a test decides when the region learns what the log holds. Each test
covers a row of the README table "The emergency login channel" that one region can show."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
import unicodedata
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx
import jwt
import orjson
import pytest
from sqlalchemy import Executable, func, insert, select

from schemas import names, tables
from schemas.events import (
    LoginFailed,
    PasswordRehashed,
    SessionRevoked,
    SessionStarted,
    SigningKeyPublished,
    TokenRefreshed,
)
from schemas.settings import Settings
from schemas.topics import ensure_topics
from services.core.passwords import make_hasher
from services.devstack import stackfile
from services.devstack.process import ManagedProcess, free_port
from services.login.answers import ReadinessAnswer
from services.login.app import create_app
from services.login.wiring import build_wiring
from streams.replay.state import postgres_state as postgres_checksum_state
from streams.wiring import create_engine
from tests.integration.client_seeding import register, register_in
from tests.integration.login_harness import (
    APP,
    Login,
    login_settings,
    read_topic,
    running_login,
    set_heartbeat,
)
from tests.integration.login_seeding import project, registered_hash, seed_user_redis
from tests.integration.refresh_harness import PASSWORD, Region, projected_region
from tests.integration.test_login_process import _spawn as spawn_login
from tests.integration.test_login_process import _wait_healthy as wait_healthy

USER = "olga"
WAIT_S = 30.0


@contextmanager
def log_cut(broker: ManagedProcess) -> Iterator[None]:
    """The broker frozen for the block: the log takes nothing and answers nothing."""
    os.kill(broker.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(broker.pid, signal.SIGCONT)


@asynccontextmanager
async def _region(
    tmp_path: Path, broker: ManagedProcess, redis_url: str, dsn: str, **kw: Any
) -> AsyncIterator[Region]:
    settings = login_settings(
        tmp_path, broker.address, redis_url, dsn, refresh_reuse_grace_s=0, **kw
    )
    async with running_login(settings) as login:
        await seed_user_redis(settings, USER, PASSWORD)
        await set_heartbeat(redis_url, settings.region)
        async with projected_region(login, redis_url, dsn) as region:
            yield region


@asynccontextmanager
async def _login_app(settings: Settings) -> AsyncIterator[Login]:
    """The endpoint in-process, started without touching the log (``running_login`` creates
    the topics first, which needs the log)."""
    wiring = await build_wiring(settings)
    transport = httpx.ASGITransport(app=create_app(settings, wiring))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://login") as client:
            login = Login(settings, wiring, client)
            await register(login)  # into the stores directly: the log is not needed
            yield login
    finally:
        await wiring.close()


@pytest.fixture
async def region(
    tmp_path: Path, broker: ManagedProcess, fresh_redis_url: str, fresh_postgres_dsn: str
) -> AsyncIterator[Region]:
    async with _region(tmp_path, broker, fresh_redis_url, fresh_postgres_dsn) as r:
        yield r


async def _outbox(region: Region) -> list[tuple[str, str]]:
    """(event id, event type) of every pending outbox row of ``region``, in relay order."""
    return await _pending_rows(region.stores.dsn)


async def _sql(dsn: str, statement: Executable, rows: list[dict[str, Any]] | None = None) -> Any:
    """Run one statement in its own transaction; the rows it returns, if any."""
    engine = create_engine(dsn)
    try:
        async with engine.begin() as conn:
            result = await conn.execute(statement, rows)
            return result.all() if result.returns_rows else []
    finally:
        await engine.dispose()


async def _pending_rows(dsn: str) -> list[tuple[str, str]]:
    t = tables.login_outbox
    found = await _sql(dsn, select(t.c.event_id, t.c.event_type).order_by(t.c.seq))
    return [(row.event_id, row.event_type) for row in found]


async def _archived(region: Region, event_ids: list[str]) -> dict[str, int]:
    """How many archive rows each event id has."""
    t = tables.event_archive
    query = select(t.c.event_id, func.count()).group_by(t.c.event_id)
    counts = {row[0]: row[1] for row in await _sql(region.stores.dsn, query)}
    return {event_id: counts.get(event_id, 0) for event_id in event_ids}


async def _eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_S
    while not await check():
        assert loop.time() < deadline, f"not within {WAIT_S} s: {what}"
        await asyncio.sleep(0.1)


async def _drained(region: Region) -> None:
    """Wait until the relay forwarded every row, then project what the log holds."""

    async def empty() -> bool:
        return not await _outbox(region)

    await _eventually(empty, "the outbox drained")
    await region.pump(quiet_s=1.0)


async def _metric(region: Region, name: str) -> float:
    text = (await region.login.client.get("/metrics")).text
    found = re.search(rf"^{re.escape(name)} ([0-9.e+-]+)$", text, re.MULTILINE)
    assert found, f"{name} not in /metrics"
    return float(found.group(1))


async def _password_login(region: Region, username: str = USER, password: str = PASSWORD) -> Any:
    form = {"grant_type": "password", "username": username, "password": password, **APP}
    return await region.login.client.post("/oauth2/token", data=form)


def _first_seen(region: Region, event_ids: list[str]) -> list[str]:
    """``event_ids`` in the order the log first delivered each. A send that timed out may still
    be delivered by the producer's own retry besides the relay's copy: the same event, once in
    effect (the archive is keyed by its id)."""
    return list(dict.fromkeys(e.event_id for e in region.seen if e.event_id in event_ids))


def _sid(access_token: str) -> str:
    return str(jwt.decode(access_token, options={"verify_signature": False})["sid"])


async def test_a_login_with_the_log_cut_is_answered_queued_and_forwarded_in_order(
    region: Region, broker: ManagedProcess, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="services.login.outbox")
    assert (await region.login.client.get("/readyz")).json()["status"] == "ready"
    with log_cut(broker):
        login = await _password_login(region)
        assert login.status_code == 200, login.text
        tokens = login.json()
        # The same region knows the session at once: introspection and refresh work.
        assert await region.active(tokens["access_token"])
        refreshed = await region.refresh(tokens["refresh_token"])
        assert refreshed.status_code == 200, refreshed.text
        assert await region.active(refreshed.json()["access_token"])
        pending = await _outbox(region)
        assert [kind for _, kind in pending] == [SessionStarted.TYPE, TokenRefreshed.TYPE]
        ready = await region.login.client.get("/readyz")
        assert ready.status_code == 200, ready.text
        # As /openapi.json documents it (the model the document is generated from).
        documented = ReadinessAnswer.model_validate_json(ready.content)
        assert documented.status == "degraded"
        assert documented.emergency_channel.open is True
        assert documented.emergency_channel.depth == 2
        assert await _metric(region, "authplane_emergency_channel_open") == 1
        assert await _metric(region, "authplane_outbox_depth") == 2
        writes = 'authplane_outbox_writes_total{event_type="session.started"}'
        assert await _metric(region, writes) == 1
    await _drained(region)
    ids = [event_id for event_id, _ in pending]
    assert await _archived(region, ids) == dict.fromkeys(ids, 1)
    session = names.redis_session_key(_sid(tokens["access_token"]))
    assert await region.stores.redis.hget(session, "user_id")
    assert _first_seen(region, ids) == ids
    assert await _metric(region, "authplane_outbox_forwarded_total") >= 2
    await set_heartbeat(region.login.settings.redis_url, "eu")
    after = await region.login.client.get("/readyz")
    assert (after.status_code, after.json()["status"]) == (200, "ready"), after.text
    assert after.json()["emergency_channel"] == {"open": False, "depth": 0, "oldest_age_s": 0.0}
    assert await _metric(region, "authplane_emergency_channel_open") == 0
    lines = [r.getMessage() for r in caplog.records]
    assert lines.count("emergency channel opened") == 1
    assert lines.count("emergency channel closed") == 1


async def test_login_then_logout_while_cut_ends_revoked_everywhere_it_is_projected(
    region: Region, broker: ManagedProcess
) -> None:
    with log_cut(broker):
        tokens = (await _password_login(region)).json()
        bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
        logout = await region.login.client.post("/v1/logout", headers=bearer)
        assert logout.status_code == 204, logout.text
        # Applied here at once, though the log has not seen it.
        assert not await region.active(tokens["access_token"])
        assert (await region.refresh(tokens["refresh_token"])).json()["error"] == "invalid_grant"
        pending = await _outbox(region)
        assert [kind for _, kind in pending] == [SessionStarted.TYPE, SessionRevoked.TYPE]
    await _drained(region)
    ids = [event_id for event_id, _ in pending]
    assert await _archived(region, ids) == dict.fromkeys(ids, 1)
    revoked = names.redis_revoked_session_key(_sid(tokens["access_token"]))
    assert await region.stores.redis.exists(revoked)
    assert not await region.active(tokens["access_token"])


async def test_rfc7009_revoke_while_cut_is_applied_here_at_once(
    region: Region, broker: ManagedProcess
) -> None:
    tokens = (await _password_login(region)).json()
    await region.pump()
    with log_cut(broker):
        revoke = await region.login.client.post(
            "/oauth2/revoke", data={"token": tokens["refresh_token"], **APP}
        )
        assert revoke.status_code == 200, revoke.text
        assert not await region.active(tokens["access_token"])
        assert [kind for _, kind in await _outbox(region)] == [SessionRevoked.TYPE]
    await _drained(region)
    assert not await region.active(tokens["access_token"])
    t = tables.revocations
    query = select(func.count()).where(t.c.subject == _sid(tokens["access_token"]))
    assert await _sql(region.stores.dsn, query) == [(1,)]


async def test_a_relay_that_died_between_the_ack_and_the_delete_duplicates_nothing_in_effect(
    region: Region, broker: ManagedProcess
) -> None:
    with log_cut(broker):
        tokens = (await _password_login(region)).json()
        t = tables.login_outbox
        rows = [dict(r._mapping) for r in await _sql(region.stores.dsn, select(t))]
    await _drained(region)
    # The crash: the log acknowledged the rows but they were never deleted. The restarted relay
    # finds them again and sends the same events once more.
    await _sql(region.stores.dsn, insert(t), rows)
    await _drained(region)
    ids = [row["event_id"] for row in rows]
    on_log = await read_topic(
        region.login.settings.kafka_bootstrap,
        names.TOPIC_EVENTS,
        lambda e: e.event_id in ids,
        lambda found: len(found) >= 2,
    )
    assert len(on_log) >= 2  # delivered more than once ...
    assert await _archived(region, ids) == {ids[0]: 1}  # ... applied once
    assert await region.active(tokens["access_token"])
    user_sessions = names.redis_user_sessions_key(on_log[0].user_id)
    assert await region.stores.redis.zcard(user_sessions) == 1


async def test_lockout_failures_while_cut_count_here_at_once_and_everywhere_after(
    tmp_path: Path, broker: ManagedProcess, fresh_redis_url: str, fresh_postgres_dsn: str
) -> None:
    kw = {"login_max_failures": 2}
    async with _region(tmp_path, broker, fresh_redis_url, fresh_postgres_dsn, **kw) as region:
        with log_cut(broker):
            for _ in range(2):
                wrong = await _password_login(region, password="not the password")
                assert wrong.json()["error"] == "invalid_grant"
            locked = await _password_login(region)
            assert locked.status_code == 429, locked.text
            assert [kind for _, kind in await _outbox(region)] == [LoginFailed.TYPE] * 2
        await _drained(region)
        query = select(func.count()).select_from(tables.login_failures)
        assert await _sql(region.stores.dsn, query) == [(2,)]


async def test_refresh_token_theft_while_cut_is_detected_when_the_log_orders_it(
    region: Region, broker: ManagedProcess
) -> None:
    first = (await _password_login(region)).json()
    await region.pump()
    with log_cut(broker):
        victim = await region.refresh(first["refresh_token"])
        assert victim.status_code == 200, victim.text
        # This region cannot know yet that the token was spent: the spend is the projector's,
        # in log order. The thief's exchange is answered, and queued behind the victim's.
        thief = await region.refresh(first["refresh_token"])
        assert thief.status_code == 200, thief.text
        assert [kind for _, kind in await _outbox(region)] == [TokenRefreshed.TYPE] * 2
    await _drained(region)
    # In log order the second exchange of one token is reuse: the session is revoked, for the
    # victim's and the thief's tokens alike.
    for answer in (victim.json(), thief.json()):
        assert not await region.active(answer["access_token"])
        assert (await region.refresh(answer["refresh_token"])).json()["error"] == "invalid_grant"


async def test_password_change_while_cut_needs_the_log_503(
    region: Region, broker: ManagedProcess
) -> None:
    tokens = (await _password_login(region)).json()
    await region.pump()
    with log_cut(broker):
        change = await region.login.client.post(
            "/v1/password",
            data={"old_password": PASSWORD, "new_password": "a brand new passphrase"},
            headers={"Authorization": f"Bearer {tokens['access_token']}"},
        )
        assert change.status_code == 503, change.text
        assert change.headers["Retry-After"]
        assert await _outbox(region) == []
        assert (await _password_login(region)).status_code == 200


async def test_with_the_channel_off_a_cut_log_means_503_and_not_ready(
    tmp_path: Path, broker: ManagedProcess, fresh_redis_url: str, fresh_postgres_dsn: str
) -> None:
    kw = {"emergency_channel": False}
    async with _region(tmp_path, broker, fresh_redis_url, fresh_postgres_dsn, **kw) as region:
        with log_cut(broker):
            login = await _password_login(region)
            assert login.status_code == 503, login.text
            assert login.headers["Retry-After"]
            assert "access_token" not in login.text
            assert await _outbox(region) == []
            ready = await region.login.client.get("/readyz")
            assert (ready.status_code, ready.json()["status"]) == (503, "not_ready")


async def test_past_the_outbox_bounds_a_cut_log_means_503_and_not_ready(
    tmp_path: Path, broker: ManagedProcess, fresh_redis_url: str, fresh_postgres_dsn: str
) -> None:
    kw = {"outbox_max_rows": 1}
    async with _region(tmp_path, broker, fresh_redis_url, fresh_postgres_dsn, **kw) as region:
        with log_cut(broker):
            assert (await _password_login(region)).status_code == 200
            refused = await _password_login(region)
            assert refused.status_code == 503, refused.text
            assert "access_token" not in refused.text
            assert len(await _outbox(region)) == 1
            ready = await region.login.client.get("/readyz")
            assert (ready.status_code, ready.json()["status"]) == (503, "not_ready")
        await _drained(region)
        assert (await _password_login(region)).status_code == 200


async def test_a_user_with_rows_pending_never_overtakes_them(
    region: Region, broker: ManagedProcess
) -> None:
    await seed_user_redis(region.login.settings, "pavel", PASSWORD)
    with log_cut(broker):
        tokens = (await _password_login(region)).json()
        await region.login.wiring.relay.close()  # nothing is forwarded until it starts again
    region.login.wiring.channel.log_answered(reachable=True)  # as a probe of the log would
    # Another user has nothing pending: straight to the log. This user has a row pending: the
    # refresh is queued behind it, though the log would take it.
    other = await _password_login(region, "pavel")
    assert other.status_code == 200, other.text
    refreshed = await region.refresh(tokens["refresh_token"])
    assert refreshed.status_code == 200, refreshed.text
    pending = await _outbox(region)
    assert [kind for _, kind in pending] == [SessionStarted.TYPE, TokenRefreshed.TYPE]
    region.login.wiring.relay.start()
    await _drained(region)
    ids = [event_id for event_id, _ in pending]
    assert _first_seen(region, ids) == ids


async def test_a_login_process_started_while_the_log_is_cut_answers_and_forwards_later(
    tmp_path: Path, broker: ManagedProcess, fresh_redis_url: str, fresh_postgres_dsn: str
) -> None:
    settings = login_settings(tmp_path, broker.address, fresh_redis_url, fresh_postgres_dsn)
    await ensure_topics(settings.kafka_bootstrap, settings.topic_partitions, 1)
    await seed_user_redis(settings, USER, PASSWORD)
    os.kill(broker.pid, signal.SIGSTOP)
    try:
        # A restart during the outage (after a crash, say) must not turn a degraded region into
        # a failed one: the signing key and the logins wait in the outbox.
        async with _login_app(settings) as login:
            form = {"grant_type": "password", "username": USER, "password": PASSWORD, **APP}
            answer = await login.client.post("/oauth2/token", data=form)
            assert answer.status_code == 200, answer.text
            ready = await login.client.get("/readyz")
            assert (ready.status_code, ready.json()["status"]) == (200, "degraded"), ready.text
            pending = await _pending_rows(fresh_postgres_dsn)
            kinds = [kind for _, kind in pending]
            assert kinds == [SigningKeyPublished.TYPE, SessionStarted.TYPE]
            os.kill(broker.pid, signal.SIGCONT)
            async with projected_region(login, fresh_redis_url, fresh_postgres_dsn) as region:
                await _drained(region)
                ids = [event_id for event_id, _ in pending]
                assert await _archived(region, ids) == dict.fromkeys(ids, 1)
    finally:
        os.kill(broker.pid, signal.SIGCONT)


async def test_authplane_status_shows_a_login_process_answering_through_the_channel_degraded(
    tmp_path: Path, broker: ManagedProcess, fresh_redis_url: str, fresh_postgres_dsn: str
) -> None:
    settings = login_settings(
        tmp_path, broker.address, fresh_redis_url, fresh_postgres_dsn, http_port=free_port()
    )
    await ensure_topics(settings.kafka_bootstrap, settings.topic_partitions, 1)
    await seed_user_redis(settings, USER, PASSWORD)
    await register_in(settings)
    await set_heartbeat(fresh_redis_url, settings.region)
    log = tmp_path / "login.log"
    proc = spawn_login(settings, log)
    base = f"http://{settings.http_host}:{settings.http_port}"
    try:
        wait_healthy(base, proc)
        assert await asyncio.to_thread(stackfile.readiness, base) == "ready"
        with log_cut(broker):
            async with httpx.AsyncClient(base_url=base, timeout=10) as client:
                form = {"grant_type": "password", "username": USER, "password": PASSWORD, **APP}
                answer = await client.post("/oauth2/token", data=form)
                assert answer.status_code == 200, answer.text
            assert await asyncio.to_thread(stackfile.readiness, base) == "degraded"
        await _eventually(
            lambda: asyncio.to_thread(lambda: stackfile.readiness(base) == "ready"),
            "the region ready again",
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(15)
    lines = [orjson.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    channel = [line for line in lines if line.get("msg", "").startswith("emergency channel")]
    assert [line["msg"] for line in channel] == [
        "emergency channel opened",
        "emergency channel closed",
    ]
    assert channel[1]["forwarded"] >= 1


async def test_pending_outbox_rows_are_no_part_of_the_region_checksum(
    region: Region, broker: ManagedProcess
) -> None:
    # The outbox is the region's own bookkeeping, not a projection of the log: regions compared
    # with `authplane checksum` must not differ by what one of them has yet to forward.
    engine = create_engine(region.stores.dsn)
    try:
        before = await postgres_checksum_state(engine)
        with log_cut(broker):
            assert (await _password_login(region)).status_code == 200
            assert len(await _outbox(region)) == 1
            assert await postgres_checksum_state(engine) == before
    finally:
        await engine.dispose()


async def test_a_password_rehash_after_a_login_while_cut_is_queued_and_applied_when_forwarded(
    region: Region, broker: ManagedProcess
) -> None:
    composed = "Mañana-Contraseña-2026"
    decomposed = unicodedata.normalize("NFD", composed)
    settings = region.login.settings
    # A hash of the raw text, as stored before RFC 8265 preparation: a login re-hashes it.
    legacy = registered_hash(settings, "nuria", make_hasher(settings).hash(decomposed))
    await project([legacy], redis_url=settings.redis_url)
    with log_cut(broker):
        assert (await _password_login(region, "nuria", decomposed)).status_code == 200
        kinds = [kind for _, kind in await _outbox(region)]
        assert kinds == [SessionStarted.TYPE, PasswordRehashed.TYPE]
    await _drained(region)
    # Projected: the prepared (composed) form now matches as well.
    assert (await _password_login(region, "nuria", composed)).status_code == 200


async def test_a_long_cut_leaves_no_more_copies_on_the_log_than_a_short_one(
    region: Region, broker: ManagedProcess
) -> None:
    """A relay send the log did not acknowledge in time stays with the producer, which delivers
    it once the log answers; the relay waits on it again instead of sending the row again each
    round (the broker-outage drill saw 7 copies of one event after a 30 s cut)."""
    with log_cut(broker):
        login = await _password_login(region)
        assert login.status_code == 200, login.text
        [(event_id, _)] = await _outbox(region)
        # several relay rounds, each bounded by the 1 s produce timeout, while the log is cut
        await asyncio.sleep(6 * region.login.settings.produce_timeout_s)
    await _drained(region)
    copies = [e for e in region.seen if e.event_id == event_id]
    # the login's own send, given up after its timeout but delivered by the producer, and the
    # relay's one send: never one more per round
    assert 1 <= len(copies) <= 2, len(copies)
