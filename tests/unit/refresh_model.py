"""Support for the refresh projection tests (no tests here): the rotation operations' documented
semantics in plain dicts, a reference of what a log of refreshes means, and log builders."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from schemas import names
from schemas.envelope import event_time_ms
from schemas.events import RefreshTokenReused, TokenRefreshed
from streams.operations import PgRefreshSpend, RedisRefreshSpend
from streams.record import Record
from tests.unit.test_projection_properties import MemoryStores
from tests.unit.test_reducers import make_record, session


class RefreshMemoryStores(MemoryStores):
    """MemoryStores plus the order-dependent spend operations (streams.operations)."""

    def _PgRefreshSpend(self, op: PgRefreshSpend) -> None:
        rows = self.rows.setdefault(names.TABLE_REFRESH_TOKENS, [])
        row = next((r for r in rows if r["refresh_hash"] == op.spent_hash), None)
        if row is None:
            row = _token_row(op.spent_hash, op)
            rows.append(row)
        spender = row.get("spent_by_event_id")
        if not any(r["refresh_hash"] == op.new_hash for r in rows):
            issued = _token_row(op.new_hash, op) | {"spent_by_event_id": None}
            rows.append(issued | {"spent_at": None})
        if spender in (None, op.event_id) or _sibling(spender, op.event_ms, op.grace_ms):
            if spender is None:
                row.update(spent_by_event_id=op.event_id, spent_at=op.occurred_at)
            return
        revocations = self.rows.setdefault(names.TABLE_REVOCATIONS, [])
        if not any(r["event_id"] == op.event_id for r in revocations):
            sessions = self.rows.get(names.TABLE_SESSIONS, [])
            known = [s["expires_at"] for s in sessions if s["session_id"] == op.session_id]
            until = known[0] if known else op.revocation["affects_until"]
            revocations.append({**op.revocation, "affects_until": until})

    def _RedisRefreshSpend(self, op: RedisRefreshSpend) -> None:
        session_hash = self.hashes.get(op.session_key)
        spender = session_hash.get(op.spent_field) if session_hash else None
        if spender == op.event_id:
            return
        if spender is not None and _sibling(spender, op.event_ms, op.grace_ms):
            if session_hash is not None:
                session_hash[op.issued_field] = op.event_id
            return
        if spender is not None and session_hash is not None:
            session_hash[op.issued_field] = op.event_id
            revoked = self.hashes.setdefault(op.revoked_key, {})
            if "event_id" not in revoked or op.event_id < revoked["event_id"]:
                revoked.update(op.audit)
            until = int(session_hash.get("expires_at", op.fallback_until))
            self.expiry[op.revoked_key] = max(self.expiry.get(op.revoked_key, 0), until)
            return
        if session_hash is not None:
            session_hash.update(op.rotation)


def _sibling(first_spender: str, event_ms: int, grace_ms: int) -> bool:
    first_ms = event_time_ms(first_spender)
    return grace_ms > 0 and first_ms is not None and event_ms - first_ms <= grace_ms


def _token_row(refresh_hash: str, op: PgRefreshSpend) -> dict[str, Any]:
    return {
        "refresh_hash": refresh_hash,
        "session_id": op.session_id,
        "user_id": op.user_id,
        "issued_by_event_id": op.event_id,
        "issued_at": op.occurred_at,
        "spent_by_event_id": op.event_id,
        "spent_at": op.occurred_at,
    }


@dataclass
class Reference:
    """What a log of refreshes of one session means, by the rule, in log order."""

    current: str
    spent_by: dict[str, str] = field(default_factory=dict)
    at_ms: dict[str, int] = field(default_factory=dict)
    siblings: set[str] = field(default_factory=set)
    reused: bool = False

    def apply(self, refreshed: Record) -> None:
        payload: TokenRefreshed = refreshed.envelope.payload
        event_id = refreshed.envelope.event_id
        self.at_ms[event_id] = int(refreshed.envelope.occurred_at.timestamp() * 1000)
        spender = self.spent_by.get(payload.spent_refresh_hash)
        if spender is None:
            self.spent_by[payload.spent_refresh_hash] = event_id
            self.current = payload.new_refresh_hash
        elif spender == event_id:
            return
        elif 0 < payload.reuse_grace_ms >= self.at_ms[event_id] - self.at_ms[spender]:
            self.siblings.add(payload.new_refresh_hash)
        else:
            self.reused = True


def started(sid: str, at: datetime, first_hash: str = "rth-1") -> Record:
    payload = replace(session(sid, at + timedelta(days=30)), refresh_token_hash=first_hash)
    return make_record(payload, at=at)


def refreshed(
    sid: str, spent: str, new: str, at: datetime, region: str = "eu", grace_ms: int = 0
) -> Record:
    payload = TokenRefreshed(
        session_id=sid,
        spent_refresh_hash=spent,
        new_refresh_hash=new,
        access_jti=f"jti-{new}",
        signing_kid=f"kid-{region}",
        reuse_grace_ms=grace_ms,
    )
    return make_record(payload, region=region, at=at)


def reused(sid: str, presented: str, at: datetime, region: str = "us") -> Record:
    payload = RefreshTokenReused(
        session_id=sid, presented_refresh_hash=presented, affects_until=at + timedelta(days=30)
    )
    return make_record(payload, region=region, at=at, topic=names.TOPIC_REVOCATIONS)
