"""Reading one token's revocation state straight from a region's stores (no mirror).

Redis: one round trip, one command: a read-only script (``STATE_LUA``) answering EXISTS session,
EXISTS jti, HMGET the user's not_before_ms and greatest revocation id, and EXISTS the signing
key's revocation when the caller names the key. One command instead of a pipeline of four costs
the client a third less CPU (redis-py reads each reply of a pipeline under its own timeout); an
account that may not run scripts (ACL without ``@scripting``, EVALSHA renamed away) gets the same
four questions as one pipeline (``redis_state``), from its first refusal on.
Postgres (when Redis errors): the same three questions over ``revocations_v1`` in one query;
any matching row revokes, and the greatest user ``not_before`` and event id are the ones that
count.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import NoPermissionError, ResponseError
from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from schemas import names, tables
from schemas.epoch import epoch_ms
from schemas.redis_client import as_text
from services.verifier.rule import RevocationState

USER_FIELDS = [names.REVOCATION_NOT_BEFORE_FIELD, names.USER_REVOCATION_LATEST_FIELD]
# KEYS: revoked session, revoked jti, the user's not-before hash[, revoked signing key];
# ARGV: USER_FIELDS. Reads only. Answers {session, jti, {not_before, latest}, key}.
STATE_LUA = """
local key = 0
if KEYS[4] then key = redis.call('EXISTS', KEYS[4]) end
return {redis.call('EXISTS', KEYS[1]), redis.call('EXISTS', KEYS[2]),
        redis.call('HMGET', KEYS[3], ARGV[1], ARGV[2]), key}
"""


class RedisStateReader:
    """One token's revocation state from one Redis client: the script, or the pipeline for an
    account that may not run it. Raises what the client raises (``REDIS_ERRORS``) and
    ValueError for an unreadable not-before, as ``redis_state`` does."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._script: AsyncScript | None = redis.register_script(STATE_LUA)

    async def state(
        self, user_id: str, session_id: str, jti: str, kid: str = ""
    ) -> RevocationState:
        script = self._script
        if script is not None:
            keys = [
                names.redis_revoked_session_key(session_id),
                names.redis_revoked_token_key(jti),
                names.redis_user_not_before_key(user_id),
            ]
            if kid:
                keys.append(names.redis_revoked_signing_key_key(kid))
            try:
                session_hits, token_hits, user_fields, key_hits = await script(keys, USER_FIELDS)
            except ResponseError as exc:
                if _scripts_refused(exc):
                    self._script = None
                # Anything else (a key of the wrong type...) the pipeline reports as before.
            else:
                not_before, latest = parse_user_fields(user_fields)
                return RevocationState(
                    bool(session_hits), bool(token_hits), not_before, bool(key_hits), latest
                )
        return await redis_state(self._redis, user_id, session_id, jti, kid)


def _scripts_refused(exc: ResponseError) -> bool:
    # NOPERM (ACL), or EVALSHA unknown (rename-command): this account never runs scripts.
    return isinstance(exc, NoPermissionError) or "unknown command" in str(exc).lower()


async def redis_state(
    redis: Redis, user_id: str, session_id: str, jti: str, kid: str = ""
) -> RevocationState:
    """The same four questions as ``STATE_LUA``, as one pipeline (for accounts without
    scripting)."""
    pipe = redis.pipeline(transaction=False)
    pipe.exists(names.redis_revoked_session_key(session_id))
    pipe.exists(names.redis_revoked_token_key(jti))
    pipe.hmget(names.redis_user_not_before_key(user_id), USER_FIELDS)
    if kid:
        pipe.exists(names.redis_revoked_signing_key_key(kid))
    session_hits, token_hits, user_fields, *key_hits = await pipe.execute()
    not_before, latest = parse_user_fields(user_fields)
    return RevocationState(bool(session_hits), bool(token_hits), not_before, any(key_hits), latest)


def parse_user_fields(values: list[Any]) -> tuple[int | None, str | None]:
    """``USER_FIELDS`` of ``rev:v1:user:{uid}`` as (not_before_ms, greatest revocation id).
    An unreadable not-before raises ValueError (see parse_millis)."""
    raw_not_before, raw_latest = values
    return parse_millis(raw_not_before), as_text(raw_latest) or None


def parse_millis(raw: Any) -> int | None:
    """A not_before_ms field. An unreadable value raises ValueError: the caller treats it like an
    unreachable store (unknown state), never as 'not revoked'."""
    if raw is None:
        return None
    return int(as_text(raw))


async def postgres_state(
    engine: AsyncEngine, user_id: str, session_id: str, jti: str, kid: str = ""
) -> RevocationState:
    t = tables.revocations
    query = select(t.c.kind, t.c.not_before, t.c.event_id).where(
        or_(
            and_(t.c.kind == "session", t.c.subject == session_id),
            and_(t.c.kind == "token", t.c.subject == jti),
            and_(t.c.kind == "user", t.c.subject == user_id),
        )
    )
    keys = tables.signing_key_status
    key_query = select(keys.c.kid).where(keys.c.kid == kid, keys.c.revoked_at.is_not(None))
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
        key_revoked = bool(kid) and (await conn.execute(key_query)).first() is not None
    state = _state_from_rows([(row.kind, row.not_before, str(row.event_id)) for row in rows])
    return dataclasses.replace(state, key_revoked=key_revoked)


def _state_from_rows(rows: list[tuple[str, datetime | None, str]]) -> RevocationState:
    kinds = {kind for kind, _, _ in rows}
    users = [(nb, event_id) for kind, nb, event_id in rows if kind == "user"]
    # Floored like the projector's not_before_ms (exact integer arithmetic, no float).
    not_befores = [epoch_ms(nb) for nb, _ in users if nb is not None]
    return RevocationState(
        session_revoked="session" in kinds,
        token_revoked="token" in kinds,
        user_not_before_ms=max(not_befores, default=None),
        user_revocation_id=max((event_id for _, event_id in users), default=None),
    )
