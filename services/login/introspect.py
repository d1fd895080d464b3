"""Token introspection (RFC 7662) for clients registered with the introspection permission
(resource servers), authenticated as at the token endpoint (``services.login.client_auth``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from schemas.client_events import AUTH_NONE
from services.core.clients import ClientRecord
from services.login.errors import OAuthError
from services.login.metrics import Metrics
from services.verifier.verifier import Verifier

INACTIVE: dict[str, Any] = {"active": False}
_ANSWERED_CLAIMS = (
    "sub",
    "aud",
    "sid",
    "jti",
    "iss",
    "exp",
    "iat",
    "client_id",
    "region",
    "scope",
)
TOKEN_TYPE = "Bearer"  # noqa: S105 (the RFC 6750 token type, not a secret)


def require_introspector(client: ClientRecord) -> None:
    """Raise 400 ``unauthorized_client`` unless ``client`` is a confidential client registered
    with the introspection permission (a resource server, RFC 7662 §2.1: the endpoint MUST
    require authorization). A public client authenticates with nothing but its id, so it never
    may, whatever its registration says (``authctl`` refuses to register one)."""
    if not client.can_introspect or client.token_endpoint_auth_method == AUTH_NONE:
        raise OAuthError("unauthorized_client", "this client may not introspect tokens")


class Introspection:
    """RFC 7662 answers from the token checker (signature, claims, revocation)."""

    def __init__(self, tokens: Verifier, metrics: Metrics) -> None:
        self._tokens = tokens
        self._metrics = metrics
        # Counter children by reason (a handful of Verdict reasons), bound once: labels() costs
        # more per call than the lookup.
        self._counted: dict[str, Callable[[], None]] = {}

    async def __call__(self, token: str) -> dict[str, Any]:
        """``{"active": false}`` for any token that does not pass, else the RFC 7662 §2.2 answer."""
        verdict = await self._tokens.check(token)
        self._count(verdict.reason)
        if not verdict.active:
            return dict(INACTIVE)
        answer = {name: verdict.claims[name] for name in _ANSWERED_CLAIMS if name in verdict.claims}
        # RFC 7662 §2.2: token_type is an RFC 6749 §7.1 token type; ours are Bearer tokens (RFC
        # 6750).
        return {"active": True, "token_type": TOKEN_TYPE, **answer}

    def _count(self, reason: str) -> None:
        count = self._counted.get(reason)
        if count is None:
            count = self._counted[reason] = self._metrics.introspections.labels(reason).inc
        count()
