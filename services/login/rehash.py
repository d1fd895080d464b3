"""RFC 8265 password preparation at the HTTP edge, and the re-hash after a login that matched a
hash made before preparation existed (or with other argon2 parameters).

The re-hash is a ``user.password_rehashed`` event, not a password change: the password is the
same, so no session is revoked. It names the event that set the password it re-encodes, so a
re-hash racing a password change can never bring the old password back.
"""

from __future__ import annotations

import logging

from schemas.envelope import wrap
from schemas.events import PasswordRehashed
from services.core.passwords import PasswordRejected, PasswordVerifier
from services.login.account import Account
from services.login.events import EventPublisher, PublishFailed
from services.login.forms import invalid_request

log = logging.getLogger(__name__)


class Rehasher:
    """Prepares passwords at the edge, and re-hashes them after a match against an old-style hash
    (events of ``region``)."""

    def __init__(self, passwords: PasswordVerifier, publisher: EventPublisher, region: str) -> None:
        self._passwords = passwords
        self._publisher = publisher
        self._region = region

    async def refuse_unpreparable(self, password: str, field: str = "password") -> None:
        """Raises ``OAuthError`` 400 ``invalid_request`` naming ``field`` and why (never the text)
        when the password cannot be prepared per RFC 8265 §4.2 (checked off the event loop)."""
        try:
            await self._passwords.prepare(password)
        except PasswordRejected as exc:
            raise invalid_request(f"{field}: {exc}") from None

    async def rehash(self, account: Account, password: str, request_id: str) -> None:
        """Publish a new hash of the prepared ``password`` for ``account``. Best effort: the login
        already succeeded, and a failed re-hash is tried again at the next login."""
        if not account.password_event_id:
            return
        event = PasswordRehashed(
            password_hash=await self._passwords.hash(password),
            replaces_event_id=account.password_event_id,
        )
        envelope = wrap(
            event, user_id=account.user_id, origin_region=self._region, correlation_id=request_id
        )
        try:
            await self._publisher.publish(envelope)
        except PublishFailed:
            log.warning("password re-hash not published; retried at the next login")
            return
        log.info("password re-hashed", extra={"user_id": account.user_id})
