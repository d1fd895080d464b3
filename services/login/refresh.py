"""The refresh-token grant (RFC 6749 §6): rotate the session's refresh token, detect reuse.

The region decides from its own projection (services.login.refresh_rule says which token is
accepted); the log decides for good. The token.refreshed event is acknowledged by the broker
(acks=all) BEFORE the new pair is returned; if two regions (or two requests) spend the same token,
the projection of the later event in the user's log order decides everywhere: within the grace
window of the first exchange (measured between the two events' own ids) it is the legitimate
client again and gets a sibling token that stays valid; later it is reuse and revokes the session.
A session this region has not projected yet, or a live session's token this region has not seen
(it may come from a rotation elsewhere), answers 503 with Retry-After so clients retry instead of
logging the user out, but only while the session can still be on its way: a session id is a
UUIDv7, and one older than ``session_propagation_max_s`` (or not a UUIDv7 at all) that this
region does not know was never issued, so invalid_grant. Reuse is recorded (refresh_token.reused,
acks=all) before invalid_grant is answered; if the broker does not take it the answer is 503, so
the theft is never silently forgotten. What this region logs it also writes to its own Redis at
once (services.login.own_writes), so the client's next refresh here finds it.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from schemas.envelope import Envelope, Payload, event_time_ms, new_event_id, wrap
from schemas.events import RefreshTokenReused, TokenRefreshed
from services.core.readmodel import StoreUnavailable
from services.login import tokens
from services.login.bootstrap import Runtime
from services.login.events import PublishFailed
from services.login.forms import OAuthError, require
from services.login.refresh_rule import Verdict, judge
from services.login.refresh_state import RefreshState, load_state

_SESSION_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_SECRET = re.compile(r"[A-Za-z0-9_-]{43}")  # 32 random bytes, base64url without padding
# One description for every refused token: which check failed would help an attacker.
INVALID = "the refresh token is invalid, expired or revoked"


def unavailable(description: str) -> OAuthError:
    return OAuthError("temporarily_unavailable", description, status=503)


def invalid_grant() -> OAuthError:
    return OAuthError("invalid_grant", INVALID)


def session_of(refresh_token: str) -> str | None:
    """The session id a well-formed ``<session_id>.<secret>`` token routes to, else None."""
    session_id, dot, secret = refresh_token.partition(".")
    if dot and _SESSION_ID.fullmatch(session_id) and _SECRET.fullmatch(secret):
        return session_id
    return None


async def refresh_grant(rt: Runtime, form: Mapping[str, str], request_id: str) -> dict[str, Any]:
    outcome = "error"
    try:
        body, outcome = await _refresh(rt, form, request_id)
    except OAuthError as exc:
        outcome = "unavailable" if exc.status == 503 else exc.error
        raise
    finally:
        rt.metrics.refreshes.labels(outcome).inc()
    return body


async def _refresh(
    rt: Runtime, form: Mapping[str, str], request_id: str
) -> tuple[dict[str, Any], str]:
    if "scope" in form:
        # A session does not record its scope, so a narrower one cannot be checked: refreshed
        # access tokens carry none (RFC 6749 §6 allows omitting it).
        raise OAuthError("invalid_scope", "refresh without a scope parameter")
    # RFC 6749 §5.2: a missing parameter is invalid_request; a malformed token is invalid_grant.
    token = require(form, "refresh_token")
    session_id = session_of(token)
    if session_id is None:
        raise invalid_grant()
    presented = tokens.refresh_token_hash(token)
    # One instant for the verdict and the event's id, which the projections compare in turn.
    now_ms = int(time.time() * 1000)
    state = await _state(rt, session_id, presented, now_ms)
    verdict = judge(
        state,
        presented,
        now_ms,
        idle_ttl_s=rt.settings.session_idle_ttl_s,
        grace_s=rt.settings.refresh_reuse_grace_s,
    )
    if verdict in (Verdict.EXPIRED, Verdict.IDLE):
        raise invalid_grant()
    await _refuse_if_ended(rt, session_id, state, verdict, presented, request_id)
    if verdict is Verdict.UNKNOWN:
        # A live session and a hash it never issued HERE: the token may come from a rotation in
        # another region this one has not projected yet. Only the issuer's log entry tells, so
        # the client retries (no tokens are issued either way) instead of being logged out.
        raise unavailable("refresh token not known in this region yet, try again")
    if form.get("client_id", state.client_id) != state.client_id:
        raise invalid_grant()  # RFC 6749 §6: the token is bound to the client it was issued to
    body = await _rotate(rt, session_id, state, presented, request_id, now_ms)
    return body, verdict.value


async def _state(rt: Runtime, session_id: str, presented: str, now_ms: int) -> RefreshState:
    try:
        state = await load_state(rt.redis, rt.engine, session_id, presented)
    except StoreUnavailable:
        raise unavailable("session store unreachable, try again") from None
    if state is None:
        if not may_be_in_flight(session_id, now_ms, rt.settings.session_propagation_max_s):
            raise invalid_grant()
        raise unavailable("session not known in this region yet, try again")
    return state


def may_be_in_flight(session_id: str, now_ms: int, max_age_s: float) -> bool:
    """Whether a session this region does not know may still be on its way here: its id (a
    UUIDv7, RFC 9562) was made no more than ``max_age_s`` ago (nor more than that ahead, for a
    fast issuing clock). Any other id was never issued by a session start of this version."""
    created_ms = event_time_ms(session_id)
    return created_ms is not None and abs(now_ms - created_ms) <= max_age_s * 1000


async def _refuse_if_ended(
    rt: Runtime,
    session_id: str,
    state: RefreshState,
    verdict: Verdict,
    presented: str,
    request_id: str,
) -> None:
    """invalid_grant for a revoked session, reuse (recorded first) or a disabled user."""
    checker = rt.tokens.revocations
    try:
        revoked, disabled = await asyncio.gather(
            checker.session_revoked(
                state.user_id, session_id, state.started_at_ms, state.revocation_seen
            ),
            rt.accounts.user_disabled(state.user_id),
        )
    except StoreUnavailable:
        raise unavailable("account store unreachable, try again") from None
    if revoked:
        raise invalid_grant()  # already revoked: a replayed spent token needs no new event
    if verdict is Verdict.REUSED:
        until = datetime.fromtimestamp(state.expires_at_ms / 1000, UTC)
        reused = RefreshTokenReused(
            session_id=session_id, presented_refresh_hash=presented, affects_until=until
        )
        await _publish(rt, reused, state.user_id, request_id)
        raise invalid_grant()
    if disabled:
        raise invalid_grant()


async def _rotate(
    rt: Runtime,
    session_id: str,
    state: RefreshState,
    presented: str,
    request_id: str,
    now_ms: int,
) -> dict[str, Any]:
    settings, now = rt.settings, datetime.fromtimestamp(now_ms / 1000, UTC)
    # New access tokens carry the session's own evidence, never this region's newer knowledge:
    # a revocation the session did not know must still kill what it issues.
    ctx = tokens.TokenContext(
        settings.token_issuer,
        settings.region,
        state.user_id,
        session_id,
        state.client_id,
        "",
        state.revocation_seen,
    )
    access = tokens.issue_access_token(rt.signing_key, ctx, settings.access_token_ttl_s, now)
    refresh = tokens.new_refresh_token(session_id)
    event = TokenRefreshed(
        session_id=session_id,
        # The presented token, also in the grace window: the projections then see two exchanges
        # of one token close together and issue a sibling (the other client keeps its pair).
        spent_refresh_hash=presented,
        new_refresh_hash=tokens.refresh_token_hash(refresh),
        access_jti=access.jti,
        signing_kid=rt.signing_key.kid,
        reuse_grace_ms=int(settings.refresh_reuse_grace_s * 1000),
    )
    envelope = await _publish(rt, event, state.user_id, request_id, now, new_event_id(now_ms))
    await rt.own_writes.token_refreshed(envelope)
    return {
        "access_token": access.token,
        "token_type": "Bearer",
        "expires_in": access.expires_in,
        "refresh_token": refresh,
    }


async def _publish(
    rt: Runtime,
    event: Payload,
    user_id: str,
    request_id: str,
    now: datetime | None = None,
    event_id: str | None = None,
) -> Envelope:
    envelope = wrap(
        event,
        user_id=user_id,
        origin_region=rt.settings.region,
        correlation_id=request_id,
        occurred_at=now or datetime.now(UTC),
        event_id=event_id,
    )
    try:
        await rt.publisher.publish(envelope)
    except PublishFailed:
        raise unavailable("the event log is unreachable, try again") from None
    return envelope
