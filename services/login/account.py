"""A user's account as the login endpoint sees it (registration + latest account changes), and
the self-service password change.

The latest password (user.password_changed, else the registration's) is the one verified; a
disabled user cannot log in or refresh. Both come from this region's projections: Redis first,
Postgres when Redis errors, StoreUnavailable when neither answers (callers fail closed).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from redis.asyncio import Redis
from sqlalchemy import Text, cast, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from schemas import names, tables
from schemas.names import NO_USER_REVOCATION
from services.readmodel import POSTGRES_ERRORS, REDIS_ERRORS, StoreUnavailable, UserRecord

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Account:
    user_id: str
    username: str
    password_hash: str
    disabled: bool
    revocation_seen: str = NO_USER_REVOCATION
    """The greatest user-wide revocation id this region has applied for the user (the nil UUID
    if none): recorded by sessions started now (services.verifier.rule)."""

    def record(self) -> UserRecord:
        return UserRecord(self.user_id, self.username, self.password_hash)

    def __repr__(self) -> str:
        # Keep the password hash out of any repr that might reach a log or a traceback.
        return f"Account(user_id={self.user_id!r}, disabled={self.disabled})"


class Accounts:
    def __init__(self, redis: Redis, engine: AsyncEngine) -> None:
        self._redis = redis
        self._engine = engine

    async def find(self, user_id: str) -> Account | None:
        """The registered user with its latest password and status, or None if unknown."""
        try:
            return await self._from_redis(user_id)
        except REDIS_ERRORS as exc:
            log.warning("redis down; reading the account from postgres", extra={"err": repr(exc)})
        try:
            return await self._from_postgres(user_id)
        except POSTGRES_ERRORS as exc:
            raise StoreUnavailable("neither redis nor postgres answered") from exc

    async def user_disabled(self, user_id: str) -> bool:
        """Whether the latest of user.disabled / user.enabled disabled the user (False for a user
        never disabled). Raises StoreUnavailable when neither store answers: fail closed."""
        try:
            flag = await self._redis.hget(names.redis_account_key(user_id), "disabled")
        except REDIS_ERRORS:
            account = await self.find(user_id)
            return account is not None and account.disabled
        return flag in (b"1", "1")

    async def _from_redis(self, user_id: str) -> Account | None:
        pipe = self._redis.pipeline(transaction=False)
        pipe.hmget(names.redis_user_key(user_id), ["username", "password_hash"])
        pipe.hmget(
            names.redis_account_key(user_id), ["password_hash", "disabled", "password_event_id"]
        )
        pipe.hget(names.redis_user_not_before_key(user_id), names.USER_REVOCATION_LATEST_FIELD)
        (username, registered_hash), account, revoked = await pipe.execute()
        changed_hash, disabled, password_event = account
        if registered_hash is None:
            return None
        latest = changed_hash if changed_hash is not None else registered_hash
        # The password change read here is itself a revocation this login has seen, even if the
        # projector's write of the revocation entry (same batch, later command) is not visible yet.
        seen = _greatest(_text(revoked), _text(password_event))
        return Account(user_id, _text(username), _text(latest), disabled in (b"1", "1"), seen)

    async def _from_postgres(self, user_id: str) -> Account | None:
        users, acct, rev = tables.users, tables.user_accounts, tables.revocations
        revoked = (
            select(func.max(cast(rev.c.event_id, Text)))
            .where(rev.c.kind == "user", rev.c.subject == user_id)
            .scalar_subquery()
        )
        query = (
            select(users.c.username, users.c.password_hash, acct.c.password_hash, acct.c.disabled)
            .add_columns(revoked)
            .select_from(users.outerjoin(acct, acct.c.user_id == users.c.user_id))
            .where(users.c.user_id == user_id)
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return None
        username, registered_hash, changed_hash, disabled, seen = row
        # One transaction per projector batch: the account and its revocation row come together.
        return Account(
            user_id, username, changed_hash or registered_hash, bool(disabled), _greatest(seen)
        )


def _greatest(*ids: str | None) -> str:
    return max((i for i in ids if i), default=NO_USER_REVOCATION)


def _text(value: bytes | str | None) -> str:
    if isinstance(value, bytes):
        return value.decode()
    return value or ""
