"""What a resource server expects of an access token beyond its genuineness: its own audience
and the scopes a request needs (RFC 9068 §4). Pure functions of the (already checked) claims.

The token type (``typ: at+jwt``) is part of genuineness and checked with the signature
(``services.verifier.signature.type_accepted``), for introspection too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

WRONG_AUDIENCE = "wrong_audience"
"""Verdict reason: the token is not for this resource server (RFC 9068 §4 ``aud``)."""
INSUFFICIENT_SCOPE = "insufficient_scope"
"""Verdict reason: the token lacks a required scope (RFC 6750 §3.1's error code; a resource
server answers 403 with it, not 401)."""


def audiences_of(claims: Mapping[str, Any]) -> frozenset[str]:
    """The ``aud`` claim as a set: a string is one audience (RFC 7519 §4.1.3); none is empty."""
    aud = claims.get("aud")
    if isinstance(aud, str):
        return frozenset({aud})
    if isinstance(aud, list):
        return frozenset(item for item in aud if isinstance(item, str))
    return frozenset()


def scopes_of(claims: Mapping[str, Any]) -> frozenset[str]:
    """The space-separated ``scope`` claim (RFC 9068 §2.2.3, RFC 8693 §4.2) as a set."""
    scope = claims.get("scope")
    return frozenset(scope.split()) if isinstance(scope, str) else frozenset()


def unmet_expectation(
    claims: Mapping[str, Any], audience: str | None, required_scopes: Iterable[str]
) -> str | None:
    """``WRONG_AUDIENCE`` when ``audience`` is given and ``aud`` does not contain it (exact,
    case-sensitive string comparison, RFC 7519 §4.1.3), ``INSUFFICIENT_SCOPE`` when a required
    scope is not granted, else None. Never raises."""
    if audience is not None and audience not in audiences_of(claims):
        return WRONG_AUDIENCE
    if not frozenset(required_scopes) <= scopes_of(claims):
        return INSUFFICIENT_SCOPE
    return None
