"""What an authenticated client may get: grant types, scopes and audiences (per registration).

- a grant type the client is not registered for: 400 ``unauthorized_client`` (RFC 6749 §5.2);
  the password grant in particular is off unless the client is registered for it (RFC 9700
  §2.4: it MUST NOT be used, so only explicitly allowed first-party clients keep it);
- ``scope`` (RFC 6749 §3.3): every requested scope-token must be one the client is allowed, else
  400 ``invalid_scope``; none requested grants the client's default scopes;
- ``resource`` (RFC 8707 §2): an audience the client is allowed, else 400 ``invalid_target``;
  none sent means the client's default audience. One ``resource`` per request (a repeated
  parameter is refused by the form parser), so every token has exactly one audience.
- on refresh (RFC 6749 §6) the scope may only narrow the session's original scope, and the
  audience stays the session's (a ``resource`` naming another one is ``invalid_target``).
"""

from __future__ import annotations

from schemas.client_events import SCOPE_TOKEN
from services.core.clients import ClientRecord
from services.login.errors import OAuthError

MAX_SCOPE_CHARS = 1024


def require_grant(client: ClientRecord, grant_type: str) -> None:
    """Raise 400 ``unauthorized_client`` unless ``client`` is registered for ``grant_type``."""
    if grant_type not in client.grant_types:
        raise OAuthError("unauthorized_client", f"this client may not use grant_type={grant_type}")


def parse_scope(raw: str | None) -> list[str] | None:
    """The scope-tokens of a ``scope`` parameter in order, duplicates dropped; None when absent.
    Raises 400 ``invalid_scope`` for a malformed value."""
    if raw is None:
        return None
    scopes = raw.split(" ")
    if len(raw) > MAX_SCOPE_CHARS or not all(SCOPE_TOKEN.fullmatch(s) for s in scopes):
        raise OAuthError("invalid_scope", "malformed scope")
    return list(dict.fromkeys(scopes))


def granted_scope(client: ClientRecord, raw: str | None) -> str:
    """The space-separated scope to grant ``client`` for a ``scope`` parameter ``raw``
    ("" for none). Raises 400 ``invalid_scope``."""
    requested = parse_scope(raw)
    if requested is None:
        return " ".join(s for s in client.default_scopes if s in client.scopes)
    refused = [s for s in requested if s not in client.scopes]
    if refused:
        raise OAuthError("invalid_scope", "a requested scope is not allowed for this client")
    return " ".join(requested)


def narrowed_scope(client: ClientRecord, original: str, raw: str | None) -> str:
    """The scope of a refreshed token: the session's ``original`` scope, or the ``raw``
    requested subset of it (RFC 6749 §6), never a scope the client is no longer allowed.
    Raises 400 ``invalid_scope`` when more than the original is asked for."""
    allowed = [s for s in original.split(" ") if s and s in client.scopes]
    requested = parse_scope(raw)
    if requested is None:
        return " ".join(allowed)
    if any(s not in allowed for s in requested):
        raise OAuthError("invalid_scope", "a refresh may only narrow the original scope")
    return " ".join(requested)


def granted_audience(client: ClientRecord, resource: str | None) -> str:
    """The ``aud`` to issue for an RFC 8707 ``resource`` parameter (None: the client's default
    audience). Raises 400 ``invalid_target`` for one the client may not use, or when none is
    asked and the client has no default."""
    audience = client.default_audience if resource is None else resource
    if not audience or (audience not in client.audiences and audience != client.default_audience):
        raise OAuthError("invalid_target", "the requested resource is not allowed for this client")
    return audience


def kept_audience(session_audience: str, client: ClientRecord, resource: str | None) -> str:
    """The ``aud`` of a refreshed token: the session's (sessions logged before audiences existed
    take the client's default). Raises 400 ``invalid_target`` when ``resource`` names another."""
    audience = session_audience or client.default_audience
    if resource is not None and resource != audience:
        raise OAuthError("invalid_target", "a refresh keeps the original resource")
    if not audience:
        raise OAuthError("invalid_target", "the client has no default resource")
    return audience
