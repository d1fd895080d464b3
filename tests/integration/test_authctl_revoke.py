"""``authctl revoke`` as an operator runs it: a real process, a broker, two regions' stores, and
(for --wait) each region's projector applying the revocation topic in-process."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaConsumer

from schemas import names, tables, topology
from schemas.codec import decode
from schemas.envelope import Envelope
from schemas.events import SessionRevoked, TokenRevoked, UserRevoked
from schemas.identity import user_id_for
from schemas.topics import ensure_topics
from services.core.readmodel import make_engine
from services.devstack.infra import RegionStores
from services.devstack.process import free_port
from streams.record import LogPosition, RawEvent
from tests.integration.test_authctl import _authctl, _one_line_error
from tests.integration.test_projector_support import projector_on

ALICE = user_id_for("alice")
STARTED = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
EXPIRES = STARTED + timedelta(days=30)


def _stack(tmp_path: Path, bootstrap: str, stores: dict[str, RegionStores]) -> Path:
    regions = {
        name: topology.RegionEndpoints(name, s.redis_url, s.postgres_dsn, "")
        for name, s in stores.items()
    }
    path = tmp_path / "stack.json"
    topology.save(topology.Topology(bootstrap, regions), path)
    return path


def _recent_start() -> datetime:
    # Taken when seeding, not at import: the session's first access token expires one access TTL
    # (15 min) after its start, and an expired token's revocation is never in effect to wait for.
    # The suite can reach this module more than 15 min after collecting it.
    return datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)


async def _seed(dsn: str, session_id: str, jti: str) -> None:
    """What the projector would have written for alice and one of her sessions."""
    engine = make_engine(dsn)
    try:
        async with engine.begin() as conn:
            await conn.execute(tables.users.insert().values(
                user_id=ALICE, username="alice", password_hash="$argon2id$x",
                registration_event_id=str(uuid.uuid4()), registered_at=STARTED, origin_region="eu",
            ))  # fmt: skip
            await conn.execute(tables.sessions.insert().values(
                session_id=session_id, user_id=ALICE, client_id="web", origin_region="eu",
                started_at=_recent_start(), expires_at=EXPIRES, refresh_token_hash="0" * 64,
                access_jti=jti, signing_kid="kid", start_event_id=str(uuid.uuid4()),
            ))  # fmt: skip
    finally:
        await engine.dispose()


@contextlib.asynccontextmanager
async def _projecting(bootstrap: str, stores: RegionStores) -> AsyncIterator[None]:
    """A region's projector over the revocation topic, for as long as the block runs."""
    async with projector_on(stores.redis_url, stores.postgres_dsn) as region:
        consumer = AIOKafkaConsumer(
            names.TOPIC_REVOCATIONS,
            bootstrap_servers=bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            fetch_max_wait_ms=10,
        )
        await consumer.start()

        async def run() -> None:
            while True:
                for tp, messages in (await consumer.getmany(timeout_ms=50)).items():
                    batch = [
                        RawEvent(LogPosition(tp.topic, tp.partition, m.offset), m.key, m.value)
                        for m in messages
                    ]
                    await region.projector.apply(batch)

        task = asyncio.create_task(run())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await consumer.stop()


async def _revocations_on_topic(bootstrap: str, wait_s: float) -> list[tuple[bytes, Envelope]]:
    consumer = AIOKafkaConsumer(
        names.TOPIC_REVOCATIONS,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_wait_ms=10,
    )
    await consumer.start()
    found: list[tuple[bytes, Envelope]] = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        while loop.time() < deadline:
            for messages in (await consumer.getmany(timeout_ms=100)).values():
                found += [(m.key or b"", decode(m.value)) for m in messages]
    finally:
        await consumer.stop()
    return found


async def _run(stack: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(_authctl, stack, *args)


Regions = tuple[Path, str, dict[str, RegionStores], str, str]


@pytest.fixture
async def two_regions(
    tmp_path: Path, fresh_broker: str, fresh_region_stores: dict[str, RegionStores]
) -> Regions:
    """A stack file, a broker and alice with one session (id, access jti) in both regions."""
    await ensure_topics(fresh_broker, 2, 1)
    sid, jti = str(uuid.uuid4()), str(uuid.uuid4())
    for stores in fresh_region_stores.values():
        await _seed(stores.postgres_dsn, sid, jti)
    return (
        _stack(tmp_path, fresh_broker, fresh_region_stores),
        fresh_broker,
        fresh_region_stores,
        sid,
        jti,
    )


async def test_revoke_session_waits_for_every_region_and_is_listed_as_revoked(
    two_regions: Regions,
) -> None:
    stack, broker, stores, sid, _ = two_regions
    async with _projecting(broker, stores["eu"]), _projecting(broker, stores["us"]):
        result = await _run(
            stack, "revoke", "session", sid.upper(), "--reason", "lost laptop",
            "--operator", "ops@example.com", "--region", "us", "--wait", "--json",
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = orjson.loads(result.stdout)
    assert [(r["region"], r["confirmed"]) for r in summary["regions"]] == [
        ("eu", True),
        ("us", True),
    ]
    assert all(0 <= r["ms"] < 10_000 for r in summary["regions"])
    [(key, event)] = await _revocations_on_topic(broker, 0.5)
    assert key == ALICE.encode()
    assert event.event_id == summary["event_id"]
    assert event.payload == SessionRevoked(sid, "lost laptop", "operator:ops@example.com", EXPIRES)
    assert event.origin_region == "us"
    for region in ("eu", "us"):
        listed = await _run(stack, "sessions", "list", "alice", "--region", region, "--json")
        assert listed.returncode == 0, listed.stderr
        [row] = orjson.loads(listed.stdout)
        assert row["revoked"] is True
        assert (row["revoke_reason"], row["revoked_by"], row["revoke_region"]) == (
            "lost laptop",
            "operator:ops@example.com",
            "us",
        )
        assert row["revoked_at"] == summary["revoked_at"].replace("Z", "+00:00")
    table = await _run(stack, "sessions", "list", "alice", "--region", "eu")
    assert "revoked" in table.stdout
    assert "lost laptop" in table.stdout


async def test_revoke_user_and_token_take_effect_in_every_region(two_regions: Regions) -> None:
    stack, broker, stores, sid, jti = two_regions
    async with _projecting(broker, stores["eu"]), _projecting(broker, stores["us"]):
        user = await _run(stack, "revoke", "user", "Alice", "--wait", "--timeout", "5")
        token = await _run(stack, "revoke", "token", jti, "--wait", "--json")
    assert user.returncode == 0, user.stderr
    assert "NO" not in user.stdout
    assert user.stdout.count(" yes ") == 2, user.stdout
    assert token.returncode == 0, token.stderr
    assert all(r["confirmed"] for r in orjson.loads(token.stdout)["regions"])
    events = [event for _, event in await _revocations_on_topic(broker, 0.5)]
    assert [type(e.payload) for e in events] == [UserRevoked, TokenRevoked]
    user_event, token_event = events
    # A user-wide revocation reaches every session the user started before it.
    assert user_event.payload.not_before > STARTED
    assert token_event.payload.session_id == sid
    listed = await _run(stack, "sessions", "list", "alice", "--region", "us", "--json")
    [row] = orjson.loads(listed.stdout)
    assert row["revoked"] is True
    assert row["revoked_by"].startswith("operator:")


async def test_wait_names_the_region_that_did_not_confirm(
    tmp_path: Path, two_regions: Regions
) -> None:
    _, broker, stores, sid, _ = two_regions
    down = RegionStores("us", f"redis://127.0.0.1:{free_port()}/0", stores["us"].postgres_dsn)
    stack = _stack(tmp_path, broker, {"eu": stores["eu"], "us": down})
    async with _projecting(broker, stores["eu"]):
        result = await _run(stack, "revoke", "session", sid, "--wait", "--timeout", "1")
    _one_line_error(result, "not in effect within 1s in: us (redis unreachable")
    assert "eu" not in result.stderr
    assert "yes" in result.stdout  # eu confirmed and is shown as such


async def test_nothing_matched_writes_no_event(two_regions: Regions) -> None:
    stack, broker, _, _, _ = two_regions
    unknown = str(uuid.uuid4())
    result = await _run(stack, "revoke", "session", unknown)
    assert result.returncode == 1
    assert result.stderr == f"authctl: nothing matched: no session {unknown} in any region\n"
    user = await _run(stack, "revoke", "user", "nobody")
    _one_line_error(user, "nothing matched: no user nobody in any region")
    assert await _revocations_on_topic(broker, 0.5) == []


async def test_unreachable_broker_is_one_line(tmp_path: Path, two_regions: Regions) -> None:
    _, _, stores, sid, _ = two_regions
    stack = _stack(tmp_path, f"127.0.0.1:{free_port()}", stores)
    _one_line_error(await _run(stack, "revoke", "session", sid), "cannot reach the broker")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("revoke", "session", "not-a-session"), "malformed session id 'not-a-session'"),
        (("revoke", "token", "12345"), "malformed token id (jti) '12345'"),
        (("revoke", "user", "bad name!"), "invalid username"),
        (("revoke", "session", str(uuid.UUID(int=1)), "--region", "mars"), "unknown region"),
        (("revoke", "session", str(uuid.UUID(int=1)), "--timeout", "0"), "--timeout"),
        (("revoke", "session"), "Missing argument"),
    ],
)
def test_bad_arguments_are_one_line(tmp_path: Path, args: tuple[str, ...], fragment: str) -> None:
    dead = RegionStores("eu", "redis://127.0.0.1:1/0", "postgresql://x@127.0.0.1:1/authplane")
    stack = _stack(tmp_path, "127.0.0.1:1", {"eu": dead})
    _one_line_error(_authctl(stack, *args), fragment)


def test_no_region_answering_is_one_line(tmp_path: Path) -> None:
    dead = RegionStores("eu", "redis://127.0.0.1:1/0", f"postgresql://x@127.0.0.1:{free_port()}/a")
    stack = _stack(tmp_path, "127.0.0.1:1", {"eu": dead})
    result = _authctl(stack, "revoke", "token", str(uuid.uuid4()))
    _one_line_error(result, "no region's Postgres answered (eu: ")
