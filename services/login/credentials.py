"""Reading the credentials a request presents: the ``Authorization`` header (RFC 7235 §2.1:
``<scheme> <credentials>``, the scheme case-insensitive) and our refresh tokens."""

from __future__ import annotations

import re

from services.login.errors import InvalidBearer

_SESSION_ID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_SECRET = r"[A-Za-z0-9_-]{43}"  # noqa: S105 (a pattern: 32 random bytes, base64url unpadded)
_REFRESH_TOKEN = re.compile(rf"(?P<sid>{_SESSION_ID})\.{_SECRET}")


def split_authorization(authorization: str | None) -> tuple[str, str]:
    """(scheme in lower case, credentials) of an ``Authorization`` value; ("", "") if absent."""
    scheme, _, credentials = (authorization or "").strip().partition(" ")
    return scheme.lower(), credentials.strip()


def bearer_token(authorization: str | None) -> str:
    """The RFC 6750 §2.1 Bearer token of ``authorization``; raises ``InvalidBearer`` without one."""
    scheme, token = split_authorization(authorization)
    if scheme != "bearer" or not token:
        raise InvalidBearer("a Bearer access token is required")
    return token


def session_of(refresh_token: str) -> str | None:
    """The session id a well-formed ``<session_id>.<secret>`` refresh token routes to, else None."""
    match = _REFRESH_TOKEN.fullmatch(refresh_token)
    return match["sid"] if match else None
