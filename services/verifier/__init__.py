"""In-process access-token verification for Python resource servers (and the login endpoint).

``Verifier.verify(token)`` checks the signature against the published keys of every region, the
token type (``typ: at+jwt``, RFC 9068), the resource server's audience and required scopes when
given, and the revocation state of the caller's region: see docs/verifier.md.
"""

from services.verifier.rule import RevocationState, session_is_revoked, token_is_revoked
from services.verifier.verifier import InvalidToken, Verdict, Verifier

__all__ = [
    "InvalidToken",
    "RevocationState",
    "Verdict",
    "Verifier",
    "session_is_revoked",
    "token_is_revoked",
]
