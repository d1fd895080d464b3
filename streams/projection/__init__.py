"""The projection registry: which reducers see which event type.

A reducer is pure: ``reduce(record) -> list[Operation]``, no I/O. The projector worker and the
replay tool both drive ``reduce`` below; a new projection is one module and one registry line.
"""

from __future__ import annotations

from collections.abc import Callable

from schemas.events import (
    IpLockoutLifted,
    LockoutLifted,
    LoginFailed,
    PasswordChanged,
    PasswordRehashed,
    RefreshTokenReused,
    SessionRevoked,
    SessionStarted,
    SigningKeyPublished,
    SigningKeyRetired,
    SigningKeyRevoked,
    TokenRefreshed,
    TokenRevoked,
    UserDisabled,
    UserEnabled,
    UserRegistered,
    UserRevoked,
)
from streams.operations import Operation
from streams.projection import (
    accounts,
    archive,
    key_status,
    login_failures,
    refresh,
    revocations,
    sessions,
    signing_keys,
    users,
)
from streams.record import Record

Reducer = Callable[[Record], list[Operation]]

EVERY_EVENT: tuple[Reducer, ...] = (archive.reduce,)
"""Reducers that see every decoded event, whatever its type."""

REDUCERS: dict[str, tuple[Reducer, ...]] = {
    UserRegistered.TYPE: (users.reduce,),
    SessionStarted.TYPE: (sessions.reduce, refresh.reduce_started),
    SigningKeyPublished.TYPE: (signing_keys.reduce,),
    SessionRevoked.TYPE: (revocations.reduce_session,),
    TokenRevoked.TYPE: (revocations.reduce_token,),
    UserRevoked.TYPE: (revocations.reduce_user,),
    TokenRefreshed.TYPE: (refresh.reduce_refreshed,),
    RefreshTokenReused.TYPE: (refresh.reduce_reused,),
    PasswordChanged.TYPE: (accounts.reduce_password,),
    PasswordRehashed.TYPE: (accounts.reduce_rehashed,),
    UserDisabled.TYPE: (accounts.reduce_disabled,),
    UserEnabled.TYPE: (accounts.reduce_enabled,),
    LockoutLifted.TYPE: (accounts.reduce_unlocked,),
    LoginFailed.TYPE: (login_failures.reduce,),
    IpLockoutLifted.TYPE: (login_failures.reduce_ip_unlocked,),
    SigningKeyRetired.TYPE: (key_status.reduce_retired,),
    SigningKeyRevoked.TYPE: (key_status.reduce_revoked,),
}


def reduce(record: Record) -> list[Operation]:
    """All operations one event asks for; an event type without reducers is only archived."""
    operations: list[Operation] = []
    for reducer in (*EVERY_EVENT, *REDUCERS.get(record.envelope.type, ())):
        operations.extend(reducer(record))
    return operations
