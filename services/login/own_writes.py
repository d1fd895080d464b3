"""The issuing region reads its own writes: what a login or a refresh just logged is written to
this region's Redis at once, so the client's next refresh here does not wait for the projector.

Only writes that commute with the projector's are made, so the projection stays order-tolerant
and converges to exactly what the log says:

- a new session: its hash fields the refresh grant reads, each only where absent (HSETNX), and
  never ``start_event_id``, the field the projector's "earliest start wins" write compares: the
  projector's write of the same event still lands in full and carries the same values;
- a rotation: only ``issued:{new hash}`` = the event id, the value the projector writes too, and
  only into a session hash that exists (an expired session is not resurrected). Spending the old
  token is left to the projector, which alone knows the log order that decides rotation, sibling
  or reuse; a region that has not projected it yet treats the old token as live, and the log
  decides afterwards, as it would for a request in another region.

Best effort: if Redis does not answer, the projector's write follows within its lag.
"""

from __future__ import annotations

import contextlib

from redis.asyncio import Redis

from schemas import names, session_hash
from schemas.envelope import Envelope
from schemas.epoch import epoch_ms, epoch_s, epoch_s_ceil
from schemas.events import SessionRevoked, SessionStarted, TokenRefreshed
from services.core.readmodel import REDIS_ERRORS
from services.login.lua import ISSUED_LUA, REVOKED_LUA, SESSION_LUA


class OwnWrites:
    """Writes an acknowledged event's effect on the refresh state to this region's Redis."""

    def __init__(self, redis: Redis) -> None:
        self._session = redis.register_script(SESSION_LUA)
        self._issued = redis.register_script(ISSUED_LUA)
        self._revoked = redis.register_script(REVOKED_LUA)

    async def session_started(self, envelope: Envelope) -> None:
        payload: SessionStarted = envelope.payload
        args: list[str | int] = [epoch_s(payload.expires_at)]
        for field, value in session_hash.refresh_fields(envelope).items():
            args += [field, value]
        key = names.redis_session_key(payload.session_id)
        with contextlib.suppress(*REDIS_ERRORS):
            await self._session(keys=[key], args=args)

    async def token_refreshed(self, envelope: Envelope) -> None:
        payload: TokenRefreshed = envelope.payload
        key = names.redis_session_key(payload.session_id)
        field = names.redis_session_issued_field(payload.new_refresh_hash)
        with contextlib.suppress(*REDIS_ERRORS):
            await self._issued(keys=[key], args=[field, envelope.event_id])

    async def queued(self, envelope: Envelope) -> None:
        """An event the emergency channel queued instead of the log: the region's projector
        only sees it once it is forwarded, so its effect here is written now. Logins, refreshes
        and login failures already write theirs (``session_started``, ``token_refreshed``,
        ``Lockout.count_locally``); a session revocation writes its ``rev:v1:sess`` entry as
        the revocation projection will, so the session is refused here at once."""
        if envelope.type != SessionRevoked.TYPE:
            return
        payload: SessionRevoked = envelope.payload
        audit = {
            "reason": payload.reason,
            "revoked_by": payload.revoked_by,
            "origin_region": envelope.origin_region,
            "revoked_at_ms": str(epoch_ms(envelope.occurred_at)),
        }
        args: list[str | int] = [epoch_s_ceil(payload.affects_until), envelope.event_id]
        for field, value in audit.items():
            args += [field, value]
        key = names.redis_revoked_session_key(payload.session_id)
        with contextlib.suppress(*REDIS_ERRORS):
            await self._revoked(keys=[key], args=args)
