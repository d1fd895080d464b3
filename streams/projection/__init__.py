"""The projection registry: which reducers see which event type.

A reducer is pure: ``reduce(record) -> list[Operation]``, no I/O. The projector worker and the
replay tool both drive ``reduce`` below; a new projection is one module and one registry line.
"""

from __future__ import annotations

from collections.abc import Callable

from schemas import client_events as cev
from schemas import events as ev
from streams.operations import Operation
from streams.projection import (
    accounts,
    archive,
    clients,
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
    ev.UserRegistered.TYPE: (users.reduce,),
    ev.SessionStarted.TYPE: (sessions.reduce, refresh.reduce_started),
    ev.SigningKeyPublished.TYPE: (signing_keys.reduce,),
    ev.SessionRevoked.TYPE: (revocations.reduce_session,),
    ev.TokenRevoked.TYPE: (revocations.reduce_token,),
    ev.UserRevoked.TYPE: (revocations.reduce_user,),
    ev.TokenRefreshed.TYPE: (refresh.reduce_refreshed,),
    ev.RefreshTokenReused.TYPE: (refresh.reduce_reused,),
    ev.PasswordChanged.TYPE: (accounts.reduce_password,),
    ev.PasswordRehashed.TYPE: (accounts.reduce_rehashed,),
    ev.UserDisabled.TYPE: (accounts.reduce_disabled,),
    ev.UserEnabled.TYPE: (accounts.reduce_enabled,),
    ev.LockoutLifted.TYPE: (accounts.reduce_unlocked,),
    ev.LoginFailed.TYPE: (login_failures.reduce,),
    ev.IpLockoutLifted.TYPE: (login_failures.reduce_ip_unlocked,),
    ev.SigningKeyRetired.TYPE: (key_status.reduce_retired,),
    ev.SigningKeyRevoked.TYPE: (key_status.reduce_revoked,),
    cev.ClientRegistered.TYPE: (clients.reduce_registered,),  # issue 12
    cev.ClientUpdated.TYPE: (clients.reduce_updated,),
    cev.ClientDisabled.TYPE: (clients.reduce_disabled,),
    cev.ClientEnabled.TYPE: (clients.reduce_enabled,),
    cev.ClientSecretRotated.TYPE: (clients.reduce_secret_rotated,),
}


def reduce(record: Record) -> list[Operation]:
    """All operations one event asks for; an event type without reducers is only archived."""
    operations: list[Operation] = []
    for reducer in (*EVERY_EVENT, *REDUCERS.get(record.envelope.type, ())):
        operations.extend(reducer(record))
    return operations
