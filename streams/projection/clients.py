"""client.* -> oauth_clients_v1 and ``client:v1:{client_id}`` (issue 12).

One row / hash per client, four groups of fields, each written only by the event that wins it,
so every delivery order (and any redelivery) ends in the same state:

- registration (``registration_event_id``, ``registered_at``, ``origin_region``): the earliest
  ``client.registered`` wins;
- configuration (every field of ``client.updated``, plus ``config_event_id`` and ``updated_at``,
  the winner's ``occurred_at``): any ``client.updated`` beats any registration, the greatest
  update event id wins among updates, and among racing registrations the earliest wins;
- secret (``secret_hash``, ``secret_event_id``): as configuration, with ``client.secret_rotated``
  in the role of the update;
- state (``disabled``, ``state_reason``, ``state_event_id``): the greatest event id of
  ``client.disabled`` / ``client.enabled`` wins.

Each group's precedence is one string, its ``*_order`` field
(``schemas.client_events.update_order`` / ``registration_order``). A "greatest wins" write
(``PgUpsertMax`` / ``RedisHashSetIfGreater``) on it implements the rules above. A group written
before the registration (an update delivered first) is kept; readers treat a client without a
registration as unknown.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any

import orjson

from schemas import names
from schemas.client_events import (
    ClientConfiguration,
    ClientDisabled,
    ClientEnabled,
    ClientRegistered,
    ClientSecretRotated,
    ClientUpdated,
    registration_order,
    update_order,
)
from schemas.envelope import Envelope
from streams.operations import Operation, PgUpsertMax, RedisHashSetIfGreater
from streams.record import Record

CONFIG_FIELDS = tuple(f.name for f in fields(ClientConfiguration) if f.name != "client_id")
"""The configuration group's payload fields (``client.updated`` carries all of them)."""


def reduce_registered(record: Record) -> list[Operation]:
    event = record.envelope
    payload: ClientRegistered = event.payload
    order = registration_order(event.event_id)
    registration = {
        "registration_event_id": event.event_id,
        "registration_order": order,
        "registered_at": event.occurred_at,
        "origin_region": event.origin_region,
    }
    secret = {
        "secret_hash": payload.secret_hash,
        "secret_event_id": event.event_id,
        "secret_order": order,
    }
    return [
        *_group(payload.client_id, registration, "registration_order"),
        *_config(event, payload, order),
        *_group(payload.client_id, secret, "secret_order"),
    ]


def reduce_updated(record: Record) -> list[Operation]:
    event = record.envelope
    payload: ClientUpdated = event.payload
    return _config(event, payload, update_order(event.event_id))


def reduce_secret_rotated(record: Record) -> list[Operation]:
    event = record.envelope
    payload: ClientSecretRotated = event.payload
    secret = {
        "secret_hash": payload.secret_hash,
        "secret_event_id": event.event_id,
        "secret_order": update_order(event.event_id),
    }
    return _group(payload.client_id, secret, "secret_order")


def reduce_disabled(record: Record) -> list[Operation]:
    payload: ClientDisabled = record.envelope.payload
    return _state(record.envelope, payload.client_id, disabled=True, reason=payload.reason)


def reduce_enabled(record: Record) -> list[Operation]:
    payload: ClientEnabled = record.envelope.payload
    return _state(record.envelope, payload.client_id, disabled=False, reason=payload.reason)


def _state(event: Envelope, client_id: str, *, disabled: bool, reason: str) -> list[Operation]:
    state = {"disabled": disabled, "state_reason": reason, "state_event_id": event.event_id}
    return _group(client_id, state, "state_event_id")


def _config(event: Envelope, payload: ClientConfiguration, order: str) -> list[Operation]:
    config: dict[str, Any] = {name: getattr(payload, name) for name in CONFIG_FIELDS}
    config.update(config_event_id=event.event_id, config_order=order, updated_at=event.occurred_at)
    return _group(payload.client_id, config, "config_order")


def _group(client_id: str, fields: dict[str, Any], compare: str) -> list[Operation]:
    row = {"client_id": client_id, **{k: _column(v) for k, v in fields.items()}}
    cached = {"client_id": client_id, **{k: _field(v) for k, v in fields.items()}}
    return [
        PgUpsertMax(names.TABLE_OAUTH_CLIENTS, row, key="client_id", compare=compare),
        RedisHashSetIfGreater(names.redis_client_key(client_id), cached, compare_field=compare),
    ]


def _column(value: Any) -> Any:
    """Postgres: lists and the JWK Set as canonical JSON text, the rest as they are."""
    if isinstance(value, tuple | Mapping):
        return _json(value)
    return value


def _field(value: Any) -> str:
    """Redis: every value a string; booleans ``"1"``/``"0"``, times RFC 3339 (UTC, ``Z``)."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, tuple | Mapping):
        return _json(value)
    if hasattr(value, "isoformat"):
        return orjson.dumps(value, option=orjson.OPT_UTC_Z).decode().strip('"')
    return str(value)


def _json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
