"""``POST /v1/password``: a user changes their own password with a Bearer access token and the
old password.

The old password is checked like a login (lockout first, a wrong one is a login.failed), so a
stolen access token is no password-guessing oracle. The user.password_changed event is
acknowledged before the 204; its projection revokes every session and token of the user issued
before it, in every region, this one included: the client logs in again with the new password.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from schemas.envelope import wrap
from schemas.events import PasswordChanged
from services.core.passwords import PasswordVerifier
from services.core.readmodel import StoreUnavailable
from services.login.account import Accounts
from services.login.credentials import bearer_token
from services.login.errors import InvalidBearer, OAuthError, Unavailable
from services.login.events import EventPublisher
from services.login.forms import require
from services.login.lockout import Lockout
from services.login.rehash import Rehasher
from services.verifier.verifier import Verifier

WRONG_OLD_PASSWORD = "the old password is wrong"  # noqa: S105 (a message)


@dataclass
class PasswordChange:
    """``POST /v1/password``: the ports it needs, built once by the composition root."""

    region: str
    tokens: Verifier
    passwords: PasswordVerifier
    rehasher: Rehasher
    accounts: Accounts
    lockout: Lockout
    publisher: EventPublisher

    async def __call__(
        self, authorization: str | None, form: Mapping[str, str], ip: str, request_id: str
    ) -> None:
        """Publish user.password_changed for the Bearer token's user. Raises ``InvalidBearer``
        (401), ``OAuthError`` (400 ``invalid_grant`` for a wrong old password, 429 locked out),
        ``Unavailable`` or ``PublishFailed`` (503)."""
        user_id = await self._bearer_subject(authorization)
        old, new = require(form, "old_password"), require(form, "new_password")
        await self.rehasher.refuse_unpreparable(old, "old_password")
        await self.rehasher.refuse_unpreparable(new, "new_password")
        held = await self.lockout.refuse_if_locked(user_id, ip)
        try:
            account = await self.accounts.find(user_id)
            matches, _ = await self.passwords.verify(
                account.password_hash if account else None, old
            )
            if account is None or account.disabled or not matches:
                await self.lockout.record_failure(user_id, ip, request_id, held)
                held = None
                raise OAuthError("invalid_grant", WRONG_OLD_PASSWORD)
        except StoreUnavailable:
            raise Unavailable("account store unreachable, try again") from None
        finally:
            await self.lockout.release(held)
        event = PasswordChanged(password_hash=await self.passwords.hash(new), changed_by="user")
        envelope = wrap(
            event, user_id=user_id, origin_region=self.region, correlation_id=request_id
        )
        await self.publisher.publish(envelope)

    async def _bearer_subject(self, authorization: str | None) -> str:
        verdict = await self.tokens.check(bearer_token(authorization))
        if verdict.reason == "state_unknown":
            raise Unavailable("token state unknown, try again")
        if not verdict.active:
            raise InvalidBearer("the access token is invalid, expired or revoked")
        return str(verdict.claims["sub"])
