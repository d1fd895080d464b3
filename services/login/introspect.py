"""Token introspection (RFC 7662) for resource servers holding an introspection credential."""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

from pydantic import SecretStr

from services.login.credentials import split_authorization
from services.login.errors import ClientAuthError
from services.login.metrics import Metrics
from services.verifier.verifier import Verifier

INACTIVE: dict[str, Any] = {"active": False}
_ANSWERED_CLAIMS = ("sub", "sid", "jti", "iss", "exp", "iat", "client_id", "region", "scope")
TOKEN_TYPE = "Bearer"  # noqa: S105 (the RFC 6750 token type, not a secret)


def authenticate_client(authorization: str | None, clients: Mapping[str, SecretStr]) -> str:
    """The authenticated client id, from HTTP Basic or ``Bearer <secret>``; else 401.

    ``clients`` maps client id to secret as settings hold them; a secret is unwrapped only for
    the comparison (constant-time, RFC 6749 §2.3.1 client password)."""
    scheme, credential = split_authorization(authorization)
    if scheme == "basic":
        client_id, secret = _basic_pair(credential)
        if _secret_matches(clients.get(client_id), secret):
            return client_id
    elif scheme == "bearer":
        matched = _bearer_client(credential, clients)
        if matched is not None:
            return matched
    raise ClientAuthError()


def _basic_pair(credential: str) -> tuple[str, str]:
    try:
        decoded = base64.b64decode(credential, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise ClientAuthError() from None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise ClientAuthError()
    # RFC 6749 §2.3.1: id and secret are form-urlencoded before base64.
    return unquote(client_id), unquote(secret)


def _secret_matches(expected: SecretStr | None, given: str) -> bool:
    # Compare even for an unknown client id, so its absence does not show in the timing.
    reference = expected.get_secret_value() if expected is not None else given + "\x00"
    return hmac.compare_digest(reference.encode(), given.encode()) and expected is not None


def _bearer_client(given: str, clients: Mapping[str, SecretStr]) -> str | None:
    matched = None
    for client_id, secret in clients.items():  # no early exit: constant over the client list
        if hmac.compare_digest(secret.get_secret_value().encode(), given.encode()) and given:
            matched = client_id
    return matched


class Introspection:
    """RFC 7662 answers from the token checker (signature, claims, revocation)."""

    def __init__(self, tokens: Verifier, metrics: Metrics) -> None:
        self._tokens = tokens
        self._metrics = metrics

    async def __call__(self, token: str) -> dict[str, Any]:
        """``{"active": false}`` for any token that does not pass, else the RFC 7662 §2.2 answer."""
        verdict = await self._tokens.check(token)
        if not verdict.active:
            self._metrics.introspections.labels(verdict.reason).inc()
            return dict(INACTIVE)
        self._metrics.introspections.labels("active").inc()
        answer = {name: verdict.claims[name] for name in _ANSWERED_CLAIMS if name in verdict.claims}
        # RFC 7662 §2.2: token_type is an RFC 6749 §7.1 token type; ours are Bearer tokens (RFC
        # 6750).
        return {"active": True, "token_type": TOKEN_TYPE, **answer}
