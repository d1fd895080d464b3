"""signing_key.published -> signing_keys_v1 and the ``jwks:v1`` hash (field = kid, value = JSON)."""

from __future__ import annotations

from schemas import names
from schemas.events import SigningKeyPublished
from streams.operations import Operation, PgUpsertMin, RedisJsonFieldSetIfLower
from streams.record import Record


def reduce(record: Record) -> list[Operation]:
    event = record.envelope
    payload: SigningKeyPublished = event.payload
    entry = {
        "kid": payload.kid,
        "region": payload.region,
        "alg": payload.alg,
        "public_jwk": dict(payload.public_jwk),
        "published_at": event.occurred_at,
        "event_id": event.event_id,
        "issuer": payload.issuer,
    }
    row = entry | {"issuer": payload.issuer or None}  # the column is NULL, not "", when absent
    # A login endpoint re-publishes its key on every start: the first publication wins, so the
    # entry (and its published_at) is the same whatever order the copies arrive in.
    return [
        PgUpsertMin(names.TABLE_SIGNING_KEYS, row, key="kid", compare="event_id"),
        RedisJsonFieldSetIfLower(
            names.redis_signing_keys_key(), payload.kid, entry, compare="event_id"
        ),
    ]
