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

The calling client is authenticated by the token endpoint first (services.login.token_endpoint);
a token issued to another client is invalid_grant (RFC 6749 §6). The new access token keeps the
session's scope, or the subset the request asks for, and its audience (SessionStarted.scope and
.audience; services.login.client_policy).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from schemas.envelope import Envelope, Payload, new_event_id, wrap
from schemas.epoch import from_epoch_ms
from schemas.events import RefreshTokenReused, TokenRefreshed
from schemas.settings import Settings
from services.core.clients import ClientRecord
from services.core.readmodel import StoreUnavailable
from services.login import tokens
from services.login.account import Accounts
from services.login.client_policy import kept_audience, narrowed_scope
from services.login.clock import now_ms
from services.login.credentials import session_of
from services.login.errors import OAuthError, Unavailable, outcome_of
from services.login.events import EventPublisher, PublishFailed
from services.login.forms import require
from services.login.grant import Granted, issue_pair, token_response
from services.login.metrics import Metrics
from services.login.own_writes import OwnWrites
from services.login.refresh_rule import Verdict, judge
from services.login.refresh_state import RefreshState, RefreshStates
from services.login.signer import Signer
from services.verifier.checks import RevocationChecker

# One description for every refused token: which check failed would help an attacker.
INVALID = "the refresh token is invalid, expired or revoked"


def invalid_grant() -> OAuthError:
    return OAuthError("invalid_grant", INVALID)


@dataclass
class RefreshGrant:
    """``grant_type=refresh_token``: the ports it needs, built once by the composition root."""

    settings: Settings
    states: RefreshStates
    revocations: RevocationChecker
    accounts: Accounts
    publisher: EventPublisher
    own_writes: OwnWrites
    signer: Signer
    metrics: Metrics

    async def __call__(
        self, form: Mapping[str, str], client: ClientRecord, request_id: str
    ) -> dict[str, Any]:
        """The RFC 6749 §5.1 token response with a rotated refresh token, for the authenticated
        ``client`` (allowed the refresh_token grant by the caller). The token must have been
        issued to that client (RFC 6749 §6), whether or not ``client_id`` is repeated; the new
        access token keeps the session's scope (or the narrower ``scope`` asked for) and its
        ``aud``. Raises ``OAuthError`` (400 ``invalid_grant``/``invalid_scope``/
        ``invalid_target``, 503 ``Unavailable``) or ``PublishFailed``."""
        outcome = "error"
        try:
            body, outcome = await self._refresh(form, client, request_id)
        except (OAuthError, PublishFailed) as exc:
            outcome = outcome_of(exc)
            raise
        finally:
            self.metrics.refreshes.labels(outcome).inc()
        return body

    async def _refresh(
        self, form: Mapping[str, str], client: ClientRecord, request_id: str
    ) -> tuple[dict[str, Any], str]:
        # RFC 6749 §5.2: a missing parameter is invalid_request; a malformed token invalid_grant.
        token = require(form, "refresh_token")
        session_id = session_of(token)
        if session_id is None:
            raise invalid_grant()
        presented = tokens.refresh_token_hash(token)
        # One instant for the verdict and the event's id, which the projections compare in turn.
        now = now_ms()
        max_age_s = self.settings.session_propagation_max_s
        state = await self.states.known(session_id, presented, now, max_age_s)
        if state is None:
            raise invalid_grant()
        verdict = judge(
            state,
            presented,
            now,
            idle_ttl_s=self.settings.session_idle_ttl_s,
            grace_s=self.settings.refresh_reuse_grace_s,
        )
        if verdict in (Verdict.EXPIRED, Verdict.IDLE):
            raise invalid_grant()
        await self._refuse_if_ended(session_id, state, verdict, presented, request_id)
        if verdict is Verdict.UNKNOWN:
            # A live session and a hash it never issued HERE: the token may come from a rotation
            # in another region this one has not projected yet. Only the issuer's log entry tells,
            # so the client retries (no tokens are issued either way) instead of being logged out.
            raise Unavailable("refresh token not known in this region yet, try again")
        if state.client_id != client.client_id:
            raise invalid_grant()  # RFC 6749 §6: the token is bound to the client it was issued to
        scope = narrowed_scope(client, state.scope, form.get("scope"))
        audience = kept_audience(state.audience, client, form.get("resource"))
        grant = Granted(client.client_id, scope, audience)
        body = await self._rotate(session_id, state, grant, presented, request_id, now)
        return body, verdict.value

    async def _refuse_if_ended(
        self,
        session_id: str,
        state: RefreshState,
        verdict: Verdict,
        presented: str,
        request_id: str,
    ) -> None:
        """invalid_grant for a revoked session, reuse (recorded first) or a disabled user."""
        try:
            revoked = await self.revocations.session_revoked(
                state.user_id, session_id, state.started_at_ms, state.revocation_seen
            )
            # Read with the session from Redis; from the account store after a Postgres read.
            disabled = state.user_disabled
            if disabled is None:
                disabled = await self.accounts.user_disabled(state.user_id)
        except StoreUnavailable:
            raise Unavailable("account store unreachable, try again") from None
        if revoked:
            raise invalid_grant()  # already revoked: a replayed spent token needs no new event
        if verdict is Verdict.REUSED:
            until = from_epoch_ms(state.expires_at_ms)
            reused = RefreshTokenReused(
                session_id=session_id, presented_refresh_hash=presented, affects_until=until
            )
            await self._publish(reused, state.user_id, request_id)
            raise invalid_grant()
        if disabled:
            raise invalid_grant()

    async def _rotate(
        self,
        session_id: str,
        state: RefreshState,
        grant: Granted,
        presented: str,
        request_id: str,
        at_ms: int,
    ) -> dict[str, Any]:
        settings, now, key = self.settings, from_epoch_ms(at_ms), self.signer.key
        # New access tokens carry the session's own evidence, never this region's newer
        # knowledge: a revocation the session did not know must still kill what it issues.
        ctx = tokens.TokenContext(
            settings.token_issuer,
            settings.region,
            state.user_id,
            session_id,
            grant.client_id,
            grant.scope,
            state.revocation_seen,
            grant.audience,
        )
        access, refresh = issue_pair(key, ctx, settings.access_token_ttl_s, now)
        event = TokenRefreshed(
            session_id=session_id,
            # The presented token, also in the grace window: the projections then see two
            # exchanges of one token close together and issue a sibling (the other client keeps
            # its pair).
            spent_refresh_hash=presented,
            new_refresh_hash=tokens.refresh_token_hash(refresh),
            access_jti=access.jti,
            signing_kid=key.kid,
            reuse_grace_ms=int(settings.refresh_reuse_grace_s * 1000),
        )
        envelope = await self._publish(event, state.user_id, request_id, now, new_event_id(at_ms))
        await self.own_writes.token_refreshed(envelope)
        return token_response(access, refresh, grant.scope)

    async def _publish(
        self,
        event: Payload,
        user_id: str,
        request_id: str,
        now: datetime | None = None,
        event_id: str | None = None,
    ) -> Envelope:
        envelope = wrap(
            event,
            user_id=user_id,
            origin_region=self.settings.region,
            correlation_id=request_id,
            occurred_at=now or datetime.now(UTC),
            event_id=event_id,
        )
        await self.publisher.publish(envelope)
        return envelope
