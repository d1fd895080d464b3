"""The authorization server metadata document (RFC 8414) every region serves at
``/.well-known/oauth-authorization-server``, so a client can be configured from an issuer URL.

Choices the RFC leaves to the server, and why:

- ``issuer`` is the region's own issuer (``Settings.token_issuer``), the very ``iss`` its access
  tokens carry (RFC 8414 §3.3: a client compares the two). Each region is its own issuer.
- Endpoint URLs are the route paths under ``Settings.public_url`` (the issuer when unset), so a
  deployment whose issuer is not its address still publishes reachable endpoints.
- ``grant_types_supported`` lists every grant the token endpoint implements, the password grant
  included: the document describes the server, and which client may use which grant is that
  client's registration (the password grant is refused to every client not registered for it).
- ``response_types_supported`` is ``[]``: there is no authorization endpoint, so no response type
  is supported. RFC 8414 §2 makes the member REQUIRED, and an empty array is the only true value
  (advertising ``code`` would send clients to an endpoint that does not exist). Hence no
  ``authorization_endpoint`` (§2: not required when no grant uses it) and no
  ``code_challenge_methods_supported`` (PKCE needs the authorization endpoint).
- ``token_endpoint_auth_methods_supported`` adds ``none`` (RFC 7591 §2) for public clients, which
  send only ``client_id``; revocation accepts it too (RFC 7009 §2.1: a public client revokes its
  own tokens), introspection does not (only registered resource servers introspect).
- ``scopes_supported`` comes from ``Settings.scopes_supported`` and is left out when that is
  empty (the member is RECOMMENDED, and §2 lets a server leave scopes out): the scopes a client
  may get are its registration's, so the list is an advertisement, never a grant.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from schemas.client_events import (
    AUTH_METHODS,
    AUTH_NONE,
    AUTH_PRIVATE_KEY_JWT,
    GRANT_TYPES,
    SECRET_AUTH_METHODS,
)
from schemas.settings import Settings

ROUTES = {
    "token_endpoint": "token",
    "introspection_endpoint": "introspect_token",
    "revocation_endpoint": "revoke_token",
    "jwks_uri": "jwks",
}
"""Metadata member -> name of the route (``services.login.routes``) it points at."""
CACHE_CONTROL = "public, max-age=300"
"""The document changes only with a deployment's settings: clients may keep it 5 minutes."""


def public_base(settings: Settings) -> str:
    """The URL the metadata's endpoint URLs start with: ``public_url``, else the issuer."""
    return (settings.public_url or settings.token_issuer).rstrip("/")


def server_metadata(
    settings: Settings, path_of: Callable[[str], str], assertion_algs: Sequence[str]
) -> dict[str, Any]:
    """The RFC 8414 §2 document of this region.

    ``path_of(route_name)`` is the path the app serves a route at (``app.url_path_for``);
    ``assertion_algs`` the JWS algorithms accepted in ``private_key_jwt`` client assertions
    (RFC 7523 §3), advertised for every endpoint that accepts one."""
    base = public_base(settings)
    client_methods = [*SECRET_AUTH_METHODS, AUTH_PRIVATE_KEY_JWT]
    document: dict[str, Any] = {"issuer": settings.token_issuer}
    document |= {member: base + path_of(route) for member, route in ROUTES.items()}
    document |= {
        "grant_types_supported": list(GRANT_TYPES),
        "response_types_supported": [],
        "token_endpoint_auth_methods_supported": list(AUTH_METHODS),
        "token_endpoint_auth_signing_alg_values_supported": list(assertion_algs),
        "introspection_endpoint_auth_methods_supported": client_methods,
        "introspection_endpoint_auth_signing_alg_values_supported": list(assertion_algs),
        "revocation_endpoint_auth_methods_supported": [*client_methods, AUTH_NONE],
        "revocation_endpoint_auth_signing_alg_values_supported": list(assertion_algs),
    }
    if settings.scopes_supported:
        document["scopes_supported"] = settings.scopes_supported.split()
    return document
