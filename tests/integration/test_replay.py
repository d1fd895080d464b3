"""`python -m streams.replay replay|checksum|verify` on a real broker, Redis and Postgres."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from schemas.codec import encode
from services.devstack.infra import RegionStores
from tests.integration.replay_harness import (
    damage,
    engine_cli,
    number,
    one_error_line,
    publish,
    write_stack_file,
)
from tests.integration.test_projector_support import registration, session_start

GOOD = [registration("ann"), registration("ben"), session_start("ann", "s-ann")]


def _bad_events() -> list[bytes]:
    newer = orjson.loads(encode(registration("cy")))
    newer["version"] = 99
    unknown = orjson.loads(encode(registration("dee")))
    unknown["type"] = "user.teleported"
    return [encode(registration("eve"))[:40], orjson.dumps(newer), orjson.dumps(unknown)]


@pytest.fixture
def stack_file(
    tmp_path: Path, fresh_broker: str, fresh_region_stores: dict[str, RegionStores]
) -> Path:
    return write_stack_file(tmp_path / "stack.json", fresh_broker, fresh_region_stores)


async def _checksum(stack_file: Path, region: str = "eu") -> dict[str, object]:
    result = await engine_cli(stack_file, "checksum", "--region", region, "--json")
    assert result.returncode == 0, result.stderr
    doc: dict[str, object] = orjson.loads(result.stdout)
    return doc


async def test_bad_events_are_reported_and_the_rest_is_replayed(
    stack_file: Path, fresh_broker: str
) -> None:
    await publish(fresh_broker, [GOOD[0], *_bad_events(), *GOOD[1:]])

    result = await engine_cli(stack_file, "replay", "--region", "eu")

    assert result.returncode == 2, result.stderr
    assert number(result.stdout, "events read") == "6"
    assert number(result.stdout, "applied") == "3"
    assert number(result.stdout, "dead-lettered") == "3"
    assert "not valid JSON" in result.stdout
    assert "user.registered version 99 is not readable by this code" in result.stdout
    assert "unknown event type 'user.teleported'" in result.stdout
    assert "3 event(s) were dead-lettered" in result.stdout
    kinds = (await _checksum(stack_file))["kinds"]
    assert kinds["pg users"]["count"] == 2  # type: ignore[index]
    assert kinds["redis sess:v1:"]["count"] == 1  # type: ignore[index]


async def test_a_second_replay_changes_nothing_and_counts_duplicates(
    stack_file: Path, fresh_broker: str
) -> None:
    await publish(fresh_broker, GOOD)
    first = await engine_cli(stack_file, "replay", "--region", "eu")
    state = await _checksum(stack_file)

    second = await engine_cli(stack_file, "replay", "--region", "eu")

    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    assert number(first.stdout, "skipped (duplicate)") == "0"
    assert number(second.stdout, "skipped (duplicate)") == "3"
    assert number(second.stdout, "applied") == "0"
    assert await _checksum(stack_file) == state


async def test_target_redis_leaves_postgres_alone(stack_file: Path, fresh_broker: str) -> None:
    await publish(fresh_broker, GOOD)

    result = await engine_cli(stack_file, "replay", "--region", "eu", "--target", "redis")

    assert result.returncode == 0, result.stderr
    assert "n/a" in number(result.stdout, "skipped (duplicate)") or "n/a" in result.stdout
    kinds = (await _checksum(stack_file))["kinds"]
    assert kinds["redis user:v1:"]["count"] == 2  # type: ignore[index]
    assert kinds["pg users"]["count"] == 0  # type: ignore[index]
    assert kinds["pg archive"]["count"] == 0  # type: ignore[index]


async def test_since_skips_older_events(stack_file: Path, fresh_broker: str) -> None:
    await publish(fresh_broker, GOOD[:2])
    since = datetime.now(UTC)
    await asyncio.sleep(0.02)  # record timestamps are whole milliseconds
    await publish(fresh_broker, [registration("late")])

    result = await engine_cli(stack_file, "replay", "--region", "eu", "--since", since.isoformat())

    assert result.returncode == 0, result.stderr
    assert number(result.stdout, "older than --since") == "2"
    assert number(result.stdout, "applied") == "1"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["replay", "--region", "mars"], "unknown region 'mars' (known: eu, us)"),
        (["checksum", "--region", "mars"], "unknown region 'mars'"),
        (["replay", "--region", "eu", "--since", "2999-01-01T00:00:00Z"], "is in the future"),
        (["replay", "--region", "eu", "--since", "yesterday"], "not an ISO 8601 timestamp"),
    ],
)
async def test_operator_mistakes_get_one_clear_line(
    stack_file: Path, args: list[str], expected: str
) -> None:
    result = await engine_cli(stack_file, *args)

    assert result.returncode == 1
    assert expected in one_error_line(result.stderr)


async def test_unreachable_stores_get_one_clear_line(
    tmp_path: Path, fresh_broker: str, fresh_region_stores: dict[str, RegionStores]
) -> None:
    eu = fresh_region_stores["eu"]
    dead_redis = RegionStores("eu", "redis://127.0.0.1:1/0", eu.postgres_dsn)
    dead_pg = RegionStores("us", eu.redis_url, "postgresql://postgres@127.0.0.1:1/authplane")
    path = write_stack_file(tmp_path / "s.json", fresh_broker, {"eu": dead_redis, "us": dead_pg})

    redis_down = await engine_cli(path, "replay", "--region", "eu")
    pg_down = await engine_cli(path, "checksum", "--region", "us")

    assert "cannot reach region eu's Redis" in one_error_line(redis_down.stderr)
    assert "cannot reach region us's Postgres" in one_error_line(pg_down.stderr)
    assert redis_down.returncode == pg_down.returncode == 1


async def test_verify_finds_drift_by_kind(stack_file: Path, fresh_broker: str) -> None:
    await publish(fresh_broker, GOOD)
    assert (await engine_cli(stack_file, "replay", "--region", "eu")).returncode == 0
    clean = await engine_cli(stack_file, "verify", "--region", "eu")
    await damage(stack_file, "eu", missing_user="ann", changed_user="ben", extra_session="x")

    drifted = await engine_cli(stack_file, "verify", "--region", "eu")

    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "no drift" in clean.stdout
    assert drifted.returncode == 2, drifted.stdout + drifted.stderr
    rows = {
        words[1]: words[2:]
        for words in map(str.split, drifted.stdout.splitlines())
        if len(words) == 5 and words[0] in ("pg", "redis")
    }
    assert rows["users"] == ["1", "0", "0"]  # pg users: one missing
    assert rows["user:v1:"] == ["0", "0", "1"]  # redis user hash: one different
    assert rows["sess:v1:"] == ["0", "1", "0"]  # redis session: one extra
