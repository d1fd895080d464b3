"""``POST /v1/password``: a user changes their own password with a Bearer access token and the
old password.

The old password is checked like a login (lockout first, a wrong one is a login.failed), so a
stolen access token is no password-guessing oracle. The user.password_changed event is
acknowledged before the 204; its projection revokes every session and token of the user issued
before it, in every region, this one included: the client logs in again with the new password.
"""

from __future__ import annotations

from collections.abc import Mapping

from schemas.envelope import Envelope, wrap
from schemas.events import PasswordChanged
from services.core.readmodel import StoreUnavailable
from services.login.bootstrap import Runtime
from services.login.events import PublishFailed
from services.login.forms import OAuthError, require
from services.login.rehash import refuse_unpreparable
from services.login.revoke import InvalidBearer


def unavailable(description: str) -> OAuthError:
    return OAuthError("temporarily_unavailable", description, status=503)


WRONG_OLD_PASSWORD = "the old password is wrong"  # noqa: S105 (a message)


async def change_password(
    rt: Runtime, authorization: str | None, form: Mapping[str, str], ip: str, request_id: str
) -> None:
    user_id = await _bearer_subject(rt, authorization)
    old, new = require(form, "old_password"), require(form, "new_password")
    await refuse_unpreparable(rt, old, "old_password")
    await refuse_unpreparable(rt, new, "new_password")
    held = await rt.lockout.refuse_if_locked(user_id, ip)
    try:
        account = await rt.accounts.find(user_id)
        matches, _ = await rt.verifier.verify(account.password_hash if account else None, old)
        if account is None or account.disabled or not matches:
            await rt.lockout.record_failure(user_id, ip, request_id, held)
            held = None
            raise OAuthError("invalid_grant", WRONG_OLD_PASSWORD)
    except StoreUnavailable:
        raise unavailable("account store unreachable, try again") from None
    finally:
        await rt.lockout.release(held)
    event = PasswordChanged(password_hash=await rt.verifier.hash(new), changed_by="user")
    envelope = wrap(
        event, user_id=user_id, origin_region=rt.settings.region, correlation_id=request_id
    )
    await _publish(rt, envelope)


async def _publish(rt: Runtime, envelope: Envelope) -> None:
    try:
        await rt.publisher.publish(envelope)
    except PublishFailed:
        raise unavailable("the event log is unreachable, try again") from None


async def _bearer_subject(rt: Runtime, authorization: str | None) -> str:
    scheme, _, token = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidBearer("a Bearer access token is required")
    verdict = await rt.tokens.check(token.strip())
    if verdict.reason == "state_unknown":
        raise unavailable("token state unknown, try again")
    if not verdict.active:
        raise InvalidBearer("the access token is invalid, expired or revoked")
    return str(verdict.claims["sub"])
