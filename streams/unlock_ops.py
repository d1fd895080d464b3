"""What ``user.unlocked`` does to the user's failure counts beyond moving the unlock time.

The login endpoint counts failures dated after the latest unlock, so a failure dated in the
future (written before implausible times were refused, or by a writer whose clock ran ahead)
would outlast every unlock. An unlock therefore also drops the user's failures dated after
the later of its own time and the store's clock: in log order they came before the unlock,
so they are among the failures it lifts, and no honest failure lies in the future. Failures
logged after the unlock are applied after it (one partition per user, applied in order; the
Postgres delete runs after the batch's inserts and spares anything not dated in the future).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from redis.asyncio.client import Pipeline
from redis.commands.core import AsyncScript
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from schemas import names


@dataclass(frozen=True, slots=True)
class PgFailuresDropAfter:
    """login_failures_v1: delete ``user_id``'s rows whose failed_at is after the later of
    ``after`` and the server's now()."""

    user_id: str
    after: datetime


@dataclass(frozen=True, slots=True)
class RedisWindowDropAfter:
    """ZREMRANGEBYSCORE on the failure window ``key``: members scored (epoch ms) after the later
    of ``after_ms`` and the Redis server's clock."""

    key: str
    after_ms: int


DROP_SQL = text(
    f"DELETE FROM {names.TABLE_LOGIN_FAILURES} "  # noqa: S608 - identifiers from schemas.names
    "WHERE user_id = CAST(:uid AS text) "
    "AND failed_at > GREATEST(CAST(:after AS timestamptz), now())"
)

DROP_LUA = """
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local bound = math.max(tonumber(ARGV[1]), now_ms)
return redis.call('ZREMRANGEBYSCORE', KEYS[1], '(' .. string.format('%d', bound), '+inf')
"""


async def apply_postgres(conn: AsyncConnection, operations: Sequence[PgFailuresDropAfter]) -> None:
    """Run the deletes inside the caller's transaction, after its inserts."""
    if operations:
        params = [{"uid": op.user_id, "after": op.after} for op in operations]
        await conn.execute(DROP_SQL, params)


async def queue_redis(script: AsyncScript, pipe: Pipeline, op: RedisWindowDropAfter) -> None:
    await script(keys=[op.key], args=[str(op.after_ms)], client=pipe)
