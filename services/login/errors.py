"""What can go wrong in a login-endpoint request (``services.login.answers`` turns it into HTTP).

Use cases raise ``OAuthError`` (an RFC 6749 §5.2 error: ``error``, ``error_description``, a status
and extra headers) or one of its kinds below (``Unavailable`` 503 "try again", ``InvalidBearer``
and ``ClientAuthError`` 401 with their ``WWW-Authenticate`` challenge, ``LockedOut`` 429),
or let ``PublishFailed`` (the broker did not acknowledge) and Starlette's ``HTTPException``
through. ``services.login.answers`` maps each to its response; nothing else builds error
answers. No web framework is imported here: ``authctl`` reuses the lockout rule that raises them.
"""

from __future__ import annotations

from services.login.events import PublishFailed

EVENT_LOG_UNREACHABLE = "the event log is unreachable, try again"
BEARER_REALM = 'Bearer realm="authplane"'
BASIC_REALM = 'Basic realm="authplane", charset="UTF-8"'
RETRY_AFTER_S = "1"
"""Retry-After (RFC 9110 §10.2.3, seconds) of every 503: the stores and the broker recover or
time out within about that."""


class OAuthError(Exception):
    """An RFC 6749 §5.2 error response: ``error`` code, ``description`` for the
    ``error_description`` member, HTTP ``status`` (400 unless given) and extra ``headers``."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status
        self.headers: dict[str, str] = {}


class Unavailable(OAuthError):
    """503 ``temporarily_unavailable`` with Retry-After: a store or the broker did not answer,
    or what was asked about may still be on its way to this region. Nothing was promised."""

    def __init__(self, description: str) -> None:
        super().__init__("temporarily_unavailable", description, status=503)


class InvalidBearer(OAuthError):
    """401 ``invalid_token`` with the RFC 6750 §3 ``WWW-Authenticate`` challenge."""

    def __init__(self, description: str) -> None:
        super().__init__("invalid_token", description, status=401)
        self.headers = {
            "WWW-Authenticate": f'{BEARER_REALM}, error="invalid_token", '
            f'error_description="{description}"'
        }


class ClientAuthError(OAuthError):
    """401 ``invalid_client`` (RFC 6749 §5.2) with a Basic challenge (RFC 7617 §2; RFC 9110
    §15.5.2 wants one on every 401). One ``description`` for every cause of a failed
    authentication, so callers learn nothing about which check failed."""

    def __init__(self, description: str = "client authentication failed") -> None:
        super().__init__("invalid_client", description, status=401)
        self.headers = {"WWW-Authenticate": BASIC_REALM}


class LockedOut(OAuthError):
    """429 with Retry-After (``retry_after_s`` seconds); the same body whoever the username
    belongs to (or nobody)."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(
            "slow_down", "too many failed attempts; retry after the Retry-After delay", status=429
        )
        self.headers = {"Retry-After": str(retry_after_s)}


def outcome_of(exc: OAuthError | PublishFailed) -> str:
    """The metric label of a refused request: ``unavailable`` for any 503, else the error code."""
    if isinstance(exc, PublishFailed) or exc.status == 503:
        return "unavailable"
    return exc.error
