"""signing_key.retired, signing_key.revoked -> signing_key_status_v1 and the key status hashes.

The published key itself (``jwks:v1``) is never removed: a login endpoint re-publishes its key at
every start, so a removal could be undone by a late copy. Readers subtract the retired and
revoked sets instead, which only ever grow. A revoked key also gets a ``rev:v1:kid:{kid}`` entry
so every token it signed fails the revocation check at once (mirror included), not only after a
keyring refresh; it never expires because a stolen key can sign new tokens forever.
"""

from __future__ import annotations

from schemas import names
from schemas.epoch import epoch_ms
from schemas.events import SigningKeyRetired, SigningKeyRevoked
from streams.operations import Operation, PgUpsertMax, RedisHashSet, RedisHashSetIfLower
from streams.record import Record


def reduce_retired(record: Record) -> list[Operation]:
    event = record.envelope
    payload: SigningKeyRetired = event.payload
    row = {"kid": payload.kid, "retired_at": event.occurred_at}
    return [
        PgUpsertMax(names.TABLE_SIGNING_KEY_STATUS, row, key="kid", compare="retired_at"),
        RedisHashSet(names.redis_retired_signing_keys_key(), {payload.kid: "retired"}),
    ]


def reduce_revoked(record: Record) -> list[Operation]:
    event = record.envelope
    payload: SigningKeyRevoked = event.payload
    row = {
        "kid": payload.kid,
        "revoked_at": event.occurred_at,
        "revoke_reason": payload.reason,
        "revoked_by": payload.revoked_by,
    }
    audit = {
        "event_id": event.event_id,
        "reason": payload.reason,
        "revoked_by": payload.revoked_by,
        "origin_region": event.origin_region,
        "revoked_at_ms": str(epoch_ms(event.occurred_at)),
    }
    return [
        PgUpsertMax(names.TABLE_SIGNING_KEY_STATUS, row, key="kid", compare="revoked_at"),
        RedisHashSet(names.redis_revoked_signing_keys_key(), {payload.kid: "revoked"}),
        # The earliest revocation is the one kept for display, as for sessions and tokens.
        RedisHashSetIfLower(
            names.redis_revoked_signing_key_key(payload.kid), audit, compare_field="event_id"
        ),
    ]
