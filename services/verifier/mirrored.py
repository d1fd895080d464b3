"""What a revocation mirror holds: the region's ``rev:v1:*`` keys as sets and a user table.

Pure bookkeeping (no I/O): ``RevocationMirror`` decides when to read Redis and feeds the
answers here; ``state`` answers a token check from memory.
"""

from __future__ import annotations

from typing import Any

from schemas import names
from services.verifier.rule import RevocationState
from services.verifier.store import parse_user_fields

_SESS = names.redis_revoked_session_key("")
_JTI = names.redis_revoked_token_key("")
_USER = names.redis_user_not_before_key("")
_KID = names.redis_revoked_signing_key_key("")

UserState = tuple[int | None, str | None]
"""(not_before_ms, greatest user-wide revocation id) of one user."""


def is_user_key(key: str) -> bool:
    """Whether ``key`` is a user's not-before hash (read with HMGET, not EXISTS)."""
    return key.startswith(_USER)


class MirroredRevocations:
    """Revoked session ids, jtis and signing-key ids, and each revoked user's ``UserState``."""

    def __init__(self) -> None:
        self.sessions: set[str] = set()
        self.jtis: set[str] = set()
        self.kids: set[str] = set()
        self.users: dict[str, UserState] = {}

    def state(self, user_id: str, session_id: str, jti: str, kid: str = "") -> RevocationState:
        """The revocation state of one token, from memory."""
        not_before, latest = self.users.get(user_id, (None, None))
        return RevocationState(
            session_id in self.sessions, jti in self.jtis, not_before, kid in self.kids, latest
        )

    def add_scanned(self, key: str) -> str | None:
        """Record a key a SCAN found; returns the user id when it is a user key (whose fields
        the caller reads and hands to ``set_user``), else None."""
        if is_user_key(key):
            return key[len(_USER) :]
        for prefix, members in self._sets():
            if key.startswith(prefix):
                members.add(key[len(prefix) :])
        return None

    def set_user(self, user_id: str, fields: UserState) -> None:
        if fields == (None, None):
            self.users.pop(user_id, None)
        else:
            self.users[user_id] = fields

    def apply(self, key: str, value: Any) -> None:
        """A changed key re-read from Redis: its HMGET reply (user keys) or EXISTS count."""
        if is_user_key(key):
            self.set_user(key[len(_USER) :], parse_user_fields(value))
            return
        for prefix, members in self._sets():
            if key.startswith(prefix):
                (members.add if value else members.discard)(key[len(prefix) :])

    def __len__(self) -> int:
        return len(self.sessions) + len(self.jtis) + len(self.users) + len(self.kids)

    def _sets(self) -> tuple[tuple[str, set[str]], ...]:
        return ((_SESS, self.sessions), (_JTI, self.jtis), (_KID, self.kids))
