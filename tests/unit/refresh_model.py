"""Support for the refresh projection tests (no tests here): the rotation operations' documented
semantics in plain dicts, a reference of what a log of refreshes means, and log builders."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from schemas import names
from schemas.events import RefreshTokenReused, TokenRefreshed
from streams.record import Record
from streams.refresh_ops import PgRefreshSpend, RedisRefreshSpend
from tests.unit.test_projection_properties import MemoryStores
from tests.unit.test_reducers import make_record, session


class RefreshMemoryStores(MemoryStores):
    """MemoryStores plus the order-dependent spend operations (streams.refresh_ops)."""

    def _PgRefreshSpend(self, op: PgRefreshSpend) -> None:
        rows = self.rows.setdefault(names.TABLE_REFRESH_TOKENS, [])
        row = next((r for r in rows if r["refresh_hash"] == op.spent_hash), None)
        if row is None:
            row = _token_row(op.spent_hash, op)
            rows.append(row)
        if row.get("spent_by_event_id") in (None, op.event_id):
            row.update(spent_by_event_id=op.event_id, spent_at=op.occurred_at)
            if not any(r["refresh_hash"] == op.new_hash for r in rows):
                rows.append(_token_row(op.new_hash, op) | {"spent_by_event_id": None})
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
        if spender is not None and session_hash is not None:
            revoked = self.hashes.setdefault(op.revoked_key, {})
            if "event_id" not in revoked or op.event_id < revoked["event_id"]:
                revoked.update(op.audit)
            until = int(session_hash.get("expires_at", op.fallback_until))
            self.expiry[op.revoked_key] = max(self.expiry.get(op.revoked_key, 0), until)
            return
        if session_hash is not None:
            session_hash.update(op.rotation)


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
    reused: bool = False

    def apply(self, refreshed: Record) -> None:
        payload: TokenRefreshed = refreshed.envelope.payload
        spender = self.spent_by.get(payload.spent_refresh_hash)
        if spender is None:
            self.spent_by[payload.spent_refresh_hash] = refreshed.envelope.event_id
            self.current = payload.new_refresh_hash
        elif spender != refreshed.envelope.event_id:
            self.reused = True


def started(sid: str, at: datetime, first_hash: str = "rth-1") -> Record:
    payload = replace(session(sid, at + timedelta(days=30)), refresh_token_hash=first_hash)
    return make_record(payload, at=at)


def refreshed(sid: str, spent: str, new: str, at: datetime, region: str = "eu") -> Record:
    payload = TokenRefreshed(
        session_id=sid,
        spent_refresh_hash=spent,
        new_refresh_hash=new,
        access_jti=f"jti-{new}",
        signing_kid=f"kid-{region}",
    )
    return make_record(payload, region=region, at=at)


def reused(sid: str, presented: str, at: datetime, region: str = "us") -> Record:
    payload = RefreshTokenReused(
        session_id=sid, presented_refresh_hash=presented, affects_until=at + timedelta(days=30)
    )
    return make_record(payload, region=region, at=at, topic=names.TOPIC_REVOCATIONS)
