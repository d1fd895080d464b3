"""The client credentials grant (RFC 6749 §4.4): a confidential client gets a token for itself.

The token is an RFC 9068 access token whose ``sub`` and ``client_id`` are the client (§2.2); no
refresh token is issued (RFC 6749 §4.4.3) and no session is started. Its ``sid`` is a fresh
UUIDv7 of its own that no session.started ever names: the verifier requires ``sid``, and
revoking the token (``services.login.revoke``, a token.revoked by ``jti``) is checked the same
way as for any other token.

No event is logged on issue: the token is self-contained (signature, ``exp``), nothing refreshes
or rotates it, and the verifier needs no projection of it to accept it; what the log must know is
only its revocation, written when it is revoked. The issue is counted in the
``authplane_logins_total`` metric (outcome ``client_credentials``).

A client id shaped like a UUID could equal a user id, and a resource server could then read the
client's token as the user's (RFC 9068 §5, ``sub`` collisions): such a client is refused the grant.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from schemas.settings import Settings
from services.core.clients import ClientRecord
from services.login import tokens
from services.login.client_policy import granted_audience, granted_scope
from services.login.clock import Clock, system_clock
from services.login.errors import OAuthError
from services.login.grant import token_response
from services.login.metrics import Metrics
from services.login.signer import Signer


def is_client_subject(claims: Mapping[str, Any]) -> bool:
    """Whether verified access-token ``claims`` are a client's own token (client_credentials):
    its ``sub`` is its ``client_id`` (never a user id, see the module docstring)."""
    return bool(claims.get("client_id")) and claims.get("sub") == claims.get("client_id")


def _looks_like_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


@dataclass
class ClientCredentialsGrant:
    """``grant_type=client_credentials``: signs with ``signer``, tokens live
    ``settings.access_token_ttl_s`` seconds."""

    settings: Settings
    signer: Signer
    metrics: Metrics
    clock: Clock = field(default=system_clock)

    def __call__(self, form: Mapping[str, str], client: ClientRecord) -> dict[str, Any]:
        """The RFC 6749 §4.4.3 token response (no refresh token) for the authenticated
        ``client``, already allowed the grant by the caller. Raises ``OAuthError``: 400
        ``unauthorized_client`` for a public client or a UUID-shaped client id,
        ``invalid_scope``, ``invalid_target``."""
        if client.client_type != "confidential" or _looks_like_uuid(client.client_id):
            raise OAuthError("unauthorized_client", "this client may not use client_credentials")
        scope = granted_scope(client, form.get("scope"))
        audience = granted_audience(client, form.get("resource"))
        settings = self.settings
        ctx = tokens.TokenContext(
            settings.token_issuer,
            settings.region,
            client.client_id,
            tokens.new_session_id(),
            client.client_id,
            scope,
            audience=audience,
        )
        access = tokens.issue_access_token(
            self.signer.key, ctx, settings.access_token_ttl_s, self.clock()
        )
        self.metrics.logins.labels("client_credentials").inc()
        return token_response(access, None, scope)
