"""A user's account as the login endpoint sees it (registration + latest account changes).

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
from services.core.readmodel import REDIS_ERRORS, UserRecord, read_with_fallback, text

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Account:
    user_id: str
    username: str
    password_hash: str
    disabled: bool
    # The event (registration or password change) that set the current password: a re-hash of
    # this password names it, so it cannot outlive a later change (see user.password_rehashed).
    password_event_id: str = ""
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
        """The registered user with its latest password and status, or None if unknown.
        Raises ``StoreUnavailable`` when neither store answers."""
        return await read_with_fallback(
            lambda: self._from_redis(user_id),
            lambda: self._from_postgres(user_id),
            "redis down; reading the account from postgres",
        )

    async def user_disabled(self, user_id: str) -> bool:
        """Whether the latest of user.disabled / user.enabled disabled the user (False for a user
        never disabled). Raises StoreUnavailable when neither store answers: fail closed."""
        try:
            key = names.redis_account_key(user_id)
            flag = await self._redis.hget(key, names.ACCOUNT_DISABLED_FIELD)
        except REDIS_ERRORS:
            account = await self.find(user_id)
            return account is not None and account.disabled
        return flag in (b"1", "1")

    async def _from_redis(self, user_id: str) -> Account | None:
        pipe = self._redis.pipeline(transaction=False)
        pipe.hmget(names.redis_user_key(user_id), [*_USER_FIELDS])
        pipe.hmget(names.redis_account_key(user_id), [*_ACCOUNT_FIELDS])
        pipe.hget(names.redis_user_not_before_key(user_id), names.USER_REVOCATION_LATEST_FIELD)
        (username, *registered), (*changed, disabled), revoked = await pipe.execute()
        if registered[0] is None:
            return None
        password_hash, event_id = _current_password(*map(text, registered), *map(text, changed))
        # The password change read here is itself a revocation this login has seen, even if the
        # projector's write of the revocation entry (same batch, later command) is not visible yet.
        seen = _greatest(text(revoked), text(changed[1]))
        return Account(
            user_id, text(username), password_hash, disabled in (b"1", "1"), event_id, seen
        )

    async def _from_postgres(self, user_id: str) -> Account | None:
        users, acct, rev = tables.users, tables.user_accounts, tables.revocations
        revoked = (
            select(func.max(cast(rev.c.event_id, Text)))
            .where(rev.c.kind == "user", rev.c.subject == user_id)
            .scalar_subquery()
        )
        query = (
            select(users.c.username, users.c.password_hash, users.c.registration_event_id)
            .add_columns(acct.c.password_hash, acct.c.password_event_id)
            .add_columns(acct.c.rehash_of_event_id, acct.c.rehashed_password_hash, acct.c.disabled)
            .add_columns(revoked)
            .select_from(users.outerjoin(acct, acct.c.user_id == users.c.user_id))
            .where(users.c.user_id == user_id)
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return None
        username, *password_columns, disabled, revoked_seen = row
        password_hash, event_id = _current_password(*(str(v or "") for v in password_columns))
        # One transaction per projector batch: the account and its revocation row come together.
        seen = _greatest(revoked_seen, str(password_columns[3] or ""))
        return Account(user_id, username, password_hash, bool(disabled), event_id, seen)


def _greatest(*ids: str | None) -> str:
    return max((i for i in ids if i), default=NO_USER_REVOCATION)


_USER_FIELDS = ("username", "password_hash", "registration_event_id")
_ACCOUNT_FIELDS = (
    "password_hash",
    "password_event_id",
    "rehash_of_event_id",
    "rehashed_password_hash",
    names.ACCOUNT_DISABLED_FIELD,
)


def _current_password(
    registered_hash: str,
    registration_event_id: str,
    changed_hash: str,
    password_event_id: str,
    rehash_of: str,
    rehashed_hash: str,
) -> tuple[str, str]:
    """(hash, id of the event that set the password): the latest change, else the registration;
    its re-hash instead while the re-hash names that very event."""
    current = (changed_hash, password_event_id) if changed_hash else None
    password_hash, event_id = current or (registered_hash, registration_event_id)
    if rehashed_hash and rehash_of == event_id:
        return rehashed_hash, event_id
    return password_hash, event_id
