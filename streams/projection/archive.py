"""Every decoded event, once, with its log position and its exact bytes (for reseed/replay)."""

from __future__ import annotations

from schemas import names
from streams.operations import Operation, PgInsertIgnore
from streams.record import Record


def reduce(record: Record) -> list[Operation]:
    event = record.envelope
    # Keyed by event id: a redelivered or replayed event (even at another offset) is archived once.
    row = {
        "event_id": event.event_id,
        "type": event.type,
        "version": event.version,
        "user_id": event.user_id,
        "origin_region": event.origin_region,
        "occurred_at": event.occurred_at,
        "topic": record.position.topic,
        "log_partition": record.position.partition,
        "log_offset": record.position.offset,
        "body": record.body,
    }
    return [PgInsertIgnore(names.TABLE_EVENT_ARCHIVE, row)]
