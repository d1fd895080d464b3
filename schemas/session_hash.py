"""The session hash ``sess:v1:{sid}`` a ``session.started`` event writes, built once for both of
its writers: the session projection (``streams.projection.sessions``) and the issuing region's
read-your-own-writes (``services.login.own_writes``).

Only fields a reader uses are stored: the refresh grant (``services.login.refresh_state``), the
session lookup (``services.login.sessions``) and the projector's "earliest start wins" compare
field. The session id is the key itself; where a session started, its access token's ``jti`` and
signing key id are in the Postgres read model (``sessions_v1``), which ``authctl`` reads. Each
field left out saves its name and value in every active session's hash (``MEMORY USAGE``, issue
13's bytes per session).
"""

from __future__ import annotations

from schemas import names
from schemas.envelope import Envelope
from schemas.epoch import epoch_s
from schemas.events import SessionStarted

RETIRED_FIELDS = frozenset({"session_id", "origin_region", "access_jti", "signing_kid"})
"""Fields of ``sess:v1:{sid}`` written before issue 13 and read by nothing: hashes written
before the upgrade keep them until they expire. Dropping fields no reader reads is the one change
of shape made in place (``schemas.names``): the replay's snapshot leaves these out, so a region
rebuilt by the new code verifies equal to one whose older sessions still carry them."""

START_EVENT_FIELD = "start_event_id"
"""Field of ``sess:v1:{sid}``: the start event kept (the earliest wins); only the projector
writes it, as the compare field of its keep-the-lowest write."""


def refresh_fields(envelope: Envelope) -> dict[str, str]:
    """The fields the refresh grant reads, from a ``session.started`` envelope: ``user_id``,
    ``client_id``, ``started_at`` and ``expires_at`` (epoch **seconds**), the start's refresh
    token hash as the current one, and ``scope`` / ``audience`` only when set.

    Both writers write these with the same values, so either may land first."""
    payload: SessionStarted = envelope.payload
    fields = {
        "user_id": envelope.user_id,
        "client_id": payload.client_id,
        "started_at": str(epoch_s(envelope.occurred_at)),
        names.SESSION_EXPIRES_FIELD: str(epoch_s(payload.expires_at)),
        names.SESSION_REFRESH_HASH_FIELD: payload.refresh_token_hash,
    }
    if payload.scope:
        fields[names.SESSION_SCOPE_FIELD] = payload.scope
    if payload.audience:
        fields[names.SESSION_AUDIENCE_FIELD] = payload.audience
    return fields


def projected_fields(envelope: Envelope) -> dict[str, str]:
    """``refresh_fields`` plus what only the projector writes: the start event id
    (``START_EVENT_FIELD``) and the session's ``user_revocation_seen`` when the event carries
    one (absent, not "", for sessions logged before it existed)."""
    payload: SessionStarted = envelope.payload
    fields = refresh_fields(envelope)
    fields[START_EVENT_FIELD] = envelope.event_id
    if payload.user_revocation_seen:
        fields[names.SESSION_REVOCATION_SEEN_FIELD] = payload.user_revocation_seen
    return fields
