"""Refresh-token rotation as store operations: applied in LOG ORDER, decided inside one statement.

Whether a token.refreshed rotates the session or is reuse (theft) depends on what earlier events
of the same session did, so unlike every other operation these are not order-free: each one is
one SQL statement / one Lua script that reads the spent marker and writes in the same atomic
step, and the executors run them in batch order (a batch may hold two refreshes of one session).
Log order is the same in every region (a user's events share one partition), so every region
decides the same way. Redelivery is a no-op: the spent marker names the event that spent it.

Grace window: a later exchange of an already spent token is not reuse when its event id's time is
at most ``grace_ms`` (carried in the event) after the first spender's event id's time: it is the
legitimate client again (two tabs, or a retry after a lost answer), and its new token is issued
as a sibling that stays valid. Both times come from the events' own UUIDv7 ids, never from the
projecting region's clock, so every region decides the same; the first spender is fixed by log
order, so it is the same in every region too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from redis.asyncio.client import Pipeline
from redis.commands.core import AsyncScript
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from schemas import names
from streams.lua import HSET_JSON


@dataclass(frozen=True, slots=True)
class PgRefreshSpend:
    """refresh_tokens_v1: insert ``new_hash`` issued by this event (every exchange issues its
    token, as the issuing region already wrote it; on reuse the session's revocation makes it
    useless); if ``spent_hash`` is unspent (or unknown), mark it spent by this event; if this
    event already spent it, or another event did within ``grace_ms`` (a sibling), nothing more;
    otherwise insert a session revocation row (``revocation``, keyed by this event id)."""

    spent_hash: str
    new_hash: str
    session_id: str
    user_id: str
    event_id: str
    occurred_at: datetime
    revocation: Mapping[str, Any]
    """The revocations_v1 row written on reuse; its affects_until is the fallback used only when
    sessions_v1 does not know the session's expiry."""
    event_ms: int = 0
    """This event's time (epoch ms of its UUIDv7 id), compared with the first spender's."""
    grace_ms: int = 0
    """A later spend within this many ms of the first is a sibling, not reuse (0: none)."""


@dataclass(frozen=True, slots=True)
class RedisRefreshSpend:
    """``sess:v1:{sid}``: the same decision as ``PgRefreshSpend`` on the session hash's
    ``spent:{hash}`` field. Rotation writes ``rotation`` into the hash (only if the session is
    there: an expired session is not resurrected); a sibling writes only ``issued_field``; reuse
    writes ``issued_field`` too (what the issuing region wrote at once, so every region holds
    the same) and ``audit`` into the session's revocation hash (earliest event id kept),
    expiring with the session, else at ``fallback_until``."""

    session_key: str
    revoked_key: str
    spent_field: str
    event_id: str
    rotation: Mapping[str, str]
    audit: Mapping[str, str]
    fallback_until: int
    issued_field: str = ""
    """``issued:{new hash}``: written by a rotation and by a sibling, so the new token is live."""
    event_ms: int = 0
    grace_ms: int = 0


_T, _REV = names.TABLE_REFRESH_TOKENS, names.TABLE_REVOCATIONS

# One statement, so the decision and the writes are atomic: the upsert's WHERE is re-checked on
# the locked row, and RETURNING says whether this event is (or already was) the spender.
SPEND_SQL = text(
    f"""
WITH prior AS (
  SELECT spent_by_event_id FROM {_T} WHERE refresh_hash = CAST(:spent AS text)
), sibling AS (
  SELECT 1 FROM prior
  WHERE prior.spent_by_event_id <> CAST(:eid AS uuid) AND CAST(:grace AS bigint) > 0
    AND CAST(:event_ms AS bigint) - ('x' || substr(replace(CAST(prior.spent_by_event_id AS text),
        '-', ''), 1, 12))::bit(48)::bigint <= CAST(:grace AS bigint)
), spend AS (
  INSERT INTO {_T} AS t (refresh_hash, session_id, user_id, issued_by_event_id, issued_at,
                         spent_by_event_id, spent_at)
  VALUES (CAST(:spent AS text), CAST(:sid AS text), CAST(:uid AS text), CAST(:eid AS uuid),
          CAST(:at AS timestamptz), CAST(:eid AS uuid), CAST(:at AS timestamptz))
  ON CONFLICT (refresh_hash) DO UPDATE SET spent_by_event_id = EXCLUDED.spent_by_event_id,
                                           spent_at = EXCLUDED.spent_at
  WHERE t.spent_by_event_id IS NULL OR t.spent_by_event_id = EXCLUDED.spent_by_event_id
  RETURNING 1
), issue AS (
  INSERT INTO {_T} (refresh_hash, session_id, user_id, issued_by_event_id, issued_at)
  SELECT CAST(:new AS text), CAST(:sid AS text), CAST(:uid AS text), CAST(:eid AS uuid),
         CAST(:at AS timestamptz)
  ON CONFLICT (refresh_hash) DO NOTHING
)
INSERT INTO {_REV} (event_id, kind, subject, user_id, session_id, not_before, reason, revoked_by,
                    origin_region, revoked_at, affects_until)
SELECT CAST(:eid AS uuid), 'session', CAST(:sid AS text), CAST(:uid AS text), CAST(:sid AS text),
       NULL, CAST(:reason AS text), CAST(:by AS text), CAST(:region AS text),
       CAST(:at AS timestamptz),
       COALESCE((SELECT expires_at FROM {names.TABLE_SESSIONS}
                 WHERE session_id = CAST(:sid AS text)), CAST(:until AS timestamptz))
WHERE NOT EXISTS (SELECT 1 FROM spend) AND NOT EXISTS (SELECT 1 FROM sibling)
ON CONFLICT (event_id) DO NOTHING
"""  # noqa: S608 - identifiers come from schemas.names; every value is a bound parameter
)


def _spend_params(op: PgRefreshSpend) -> dict[str, Any]:
    rev = op.revocation
    return {
        "spent": op.spent_hash,
        "new": op.new_hash,
        "sid": op.session_id,
        "uid": op.user_id,
        "eid": op.event_id,
        "at": op.occurred_at,
        "reason": rev["reason"],
        "by": rev["revoked_by"],
        "region": rev["origin_region"],
        "until": rev["affects_until"],
        "event_ms": op.event_ms,
        "grace": op.grace_ms,
    }


async def apply_postgres(conn: AsyncConnection, operations: Sequence[PgRefreshSpend]) -> None:
    """Run the spends in the given (log) order inside the caller's transaction."""
    if operations:
        # executemany runs the parameter sets strictly in order on one connection.
        await conn.execute(SPEND_SQL, [_spend_params(op) for op in operations])


SPEND_LUA = (
    HSET_JSON
    + """
local spender = redis.call('HGET', KEYS[1], ARGV[1])
if spender == ARGV[2] then return 0 end
local grace = tonumber(ARGV[9])
if spender and grace > 0 then
  local hex = string.sub((string.gsub(spender, '-', '')), 1, 12)
  local first_ms = tonumber(hex, 16)
  if first_ms and tonumber(ARGV[8]) - first_ms <= grace then
    if redis.call('EXISTS', KEYS[1]) == 0 then return 3 end
    redis.call('HSET', KEYS[1], ARGV[7], ARGV[2])
    return 4
  end
end
if spender then
  if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], ARGV[7], ARGV[2]) end
  local current = redis.call('HGET', KEYS[2], 'event_id')
  if not current or ARGV[2] < current then hset_json(KEYS[2], ARGV[4]) end
  local until_s = tonumber(redis.call('HGET', KEYS[1], ARGV[6])) or tonumber(ARGV[5])
  local pttl = redis.call('PTTL', KEYS[2])
  local now = redis.call('TIME')
  local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
  if pttl < 0 or now_ms + pttl < until_s * 1000 then redis.call('EXPIREAT', KEYS[2], until_s) end
  return 2
end
if redis.call('EXISTS', KEYS[1]) == 0 then return 3 end
hset_json(KEYS[1], ARGV[3])
return 1
"""
)
"""Returns 0 redelivery, 1 rotated, 2 reuse (session revoked), 3 session not in Redis, 4 a
sibling issued within the grace window."""

SESSION_EXPIRES_FIELD = "expires_at"  # written by the session projection (epoch seconds)


async def queue_redis(script: AsyncScript, pipe: Pipeline, op: RedisRefreshSpend) -> None:
    args = [
        op.spent_field,
        op.event_id,
        orjson.dumps(op.rotation).decode(),
        orjson.dumps(op.audit).decode(),
        str(op.fallback_until),
        SESSION_EXPIRES_FIELD,
        op.issued_field,
        str(op.event_ms),
        str(op.grace_ms),
    ]
    await script(keys=[op.session_key, op.revoked_key], args=args, client=pipe)
