"""signing_key.published -> signing_keys_v1 and the ``jwks:v1`` hash (field = kid)."""

from __future__ import annotations

import orjson

from schemas import names
from schemas.events import SigningKeyPublished
from streams.operations import Operation, PgInsertIgnore, RedisHashSet
from streams.record import Record


def reduce(record: Record) -> list[Operation]:
    event = record.envelope
    payload: SigningKeyPublished = event.payload
    public_jwk = dict(payload.public_jwk)
    row = {
        "kid": payload.kid,
        "region": payload.region,
        "alg": payload.alg,
        "public_jwk": public_jwk,
        "published_at": event.occurred_at,
        "event_id": event.event_id,
    }
    entry = {
        "kid": payload.kid,
        "region": payload.region,
        "alg": payload.alg,
        "public_jwk": public_jwk,
        "published_at": event.occurred_at,
    }
    # A kid names one key (RFC 7638 thumbprint), so re-publishing it writes the same bytes.
    field = orjson.dumps(entry, option=orjson.OPT_UTC_Z).decode()
    return [
        PgInsertIgnore(names.TABLE_SIGNING_KEYS, row),
        RedisHashSet(names.redis_signing_keys_key(), {payload.kid: field}),
    ]
