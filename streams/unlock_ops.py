"""What ``user.unlocked`` does to the user's failure counts beyond moving the unlock time.

The login endpoint counts a user's failures dated after the latest unlock. Dates alone cannot
lift a lockout made of failures dated in the future (written before implausible times were
refused, or by a writer whose clock ran ahead within the tolerated skew), nor one counted by a
region whose clock runs ahead of the operator's. So an unlock also forgets every failure of the
user that comes before it in the log, whatever its date: the user's events share one partition,
so "before it in the log" is the same in every region and in every replay.

Redis: the window is deleted when the unlock is applied; the projector applies a partition in
log order, so everything in it came earlier (a failure the login endpoint counted ahead of the
projector comes back when the projector applies it). Postgres: rows whose archived log position
precedes the unlock's are deleted, after the batch's own inserts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from schemas import names


@dataclass(frozen=True, slots=True)
class PgFailuresDropBefore:
    """login_failures_v1: delete ``user_id``'s rows whose event sits in the log (per the event
    archive) on ``topic``/``partition`` before ``offset``."""

    user_id: str
    topic: str
    partition: int
    offset: int


@dataclass(frozen=True, slots=True)
class RedisWindowReset:
    """DEL the failure window ``key``: applied in log order, it holds only earlier failures."""

    key: str


_F, _A = names.TABLE_LOGIN_FAILURES, names.TABLE_EVENT_ARCHIVE
DROP_SQL = text(
    f"DELETE FROM {_F} AS f USING {_A} AS a "  # noqa: S608 - identifiers from schemas.names
    "WHERE f.user_id = CAST(:uid AS text) AND a.event_id = f.event_id "
    "AND a.topic = CAST(:topic AS text) AND a.log_partition = CAST(:partition AS integer) "
    "AND a.log_offset < CAST(:offset AS bigint)"
)


async def apply_postgres(conn: AsyncConnection, operations: Sequence[PgFailuresDropBefore]) -> None:
    """Run the deletes inside the caller's transaction, after its inserts."""
    if operations:
        params = [
            {"uid": op.user_id, "topic": op.topic, "partition": op.partition, "offset": op.offset}
            for op in operations
        ]
        await conn.execute(DROP_SQL, params)
