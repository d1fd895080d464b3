"""Support for the refresh projection tests (no tests here): a reference of what a log of
refreshes means, and log builders (the rotation operations' semantics are in
tests/memory_store.py)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from schemas import names
from schemas.events import RefreshTokenReused, TokenRefreshed
from streams.record import Record
from tests.unit.test_reducers import make_record, session


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
