"""Passwords: prepared per RFC 8265 (PRECIS OpaqueString), hashed with argon2id at the configured
cost, verified off the event loop.

Every path that takes a password (the password grant, ``POST /v1/password``, ``authctl user
create`` / ``set-password``) goes through ``prepare_password`` before hashing or verifying, so the
same text typed on any keyboard (NFC or NFD, a no-break space) is the same password.

The preparation is precis-i18n's OpaqueString profile (RFC 8265 §4.2), a maintained,
dependency-free implementation of RFC 8264/8265 whose test suite follows the RFCs' own examples,
rather than our own reading of the PRECIS derived-property tables: non-ASCII spaces become U+0020,
no width or case mapping, NFC normalisation, and control characters, zero-width joiners, default-
ignorable and unassigned code points and the empty string are refused.

Hashes made before preparation existed hold the text exactly as it was sent. A login whose
prepared form does not match tries the text as sent too (only when the two differ, and an
unknown user costs the same number of argon2 runs), and a match asks the caller to re-hash.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from precis_i18n import get_profile

from schemas.settings import Settings

_OPAQUE_STRING = get_profile("OpaqueString")
MAX_PASSWORD_CHARS = 1024
"""Longer passwords are refused before preparation: precis-i18n costs ~12 µs per non-ASCII
character, so the cap bounds one preparation to ~12 ms (run off the event loop)."""
_PRINTABLE_ASCII = re.compile(r"[\x20-\x7e]+")
_WHY = {
    "empty": "is empty",
    "controls": "contains a control character",
    "zero_width_joiner": "contains a zero-width joiner in a place RFC 8264 does not allow",
    "zero_width_nonjoiner": "contains a zero-width non-joiner in a place RFC 8264 does not allow",
    "unassigned": "contains a code point Unicode has not assigned",
    "precis_ignorable_properties": "contains a default-ignorable or non-character code point",
    "old_hangul_jamo": "contains an old Hangul jamo",
    "has_compat": "contains a compatibility character",
    "other": "contains a character RFC 8265 does not allow in passwords",
}


class PasswordRejected(ValueError):
    """The password cannot be prepared per RFC 8265 §4.2; ``str()`` says why in one sentence
    fit for the user and never contains the password or any of its characters."""


def _plain(password: str) -> bool:
    """Whether ``password`` is non-empty printable ASCII, which RFC 8265 §4.2 leaves as it is."""
    return _PRINTABLE_ASCII.fullmatch(password) is not None


def prepare_password(password: str) -> str:
    """The password as RFC 8265 §4.2 (OpaqueString) enforces it: NFC, non-ASCII spaces mapped to
    U+0020, nothing else mapped. Raises ``PasswordRejected`` for disallowed code points
    (RFC 8264 §9: controls, default-ignorables, unassigned, ...), an empty password, or one
    longer than ``MAX_PASSWORD_CHARS`` characters."""
    if len(password) > MAX_PASSWORD_CHARS:
        raise PasswordRejected(f"the password is longer than {MAX_PASSWORD_CHARS} characters")
    if _plain(password):
        # Printable ASCII is PVALID (RFC 8264 §9.11) and no OpaqueString rule changes it: the
        # common case skips the library's per-character work.
        return password
    try:
        prepared: str = _OPAQUE_STRING.enforce(password)
    except UnicodeError as exc:
        rule = str(getattr(exc, "reason", "")).rpartition("/")[2]
        why = _WHY.get(rule, _WHY["other"])
        raise PasswordRejected(f"the password {why} (RFC 8265 OpaqueString)") from None
    return prepared


def make_hasher(settings: Settings) -> PasswordHasher:
    return PasswordHasher(
        time_cost=settings.argon2_time_cost,
        memory_cost=settings.argon2_memory_kib,
        parallelism=settings.argon2_parallelism,
        type=Type.ID,
    )


def hash_password(settings: Settings, password: str) -> str:
    """The argon2id PHC string of the prepared password; raises ``PasswordRejected``."""
    return make_hasher(settings).hash(prepare_password(password))


@dataclass(frozen=True, slots=True)
class Verification:
    """One password check: whether it matched, the seconds argon2 took, and whether the stored
    hash should be replaced by a hash of the prepared password (it matched only in the form the
    client sent, or was made with other argon2 parameters)."""

    matches: bool
    seconds: float
    rehash: bool = False


class PasswordVerifier:
    """Runs argon2id verification in a bounded thread pool; argon2 releases the GIL."""

    def __init__(self, settings: Settings) -> None:
        self._hasher = make_hasher(settings)
        # Verified against when the user is unknown, so an unknown user costs the same argon2 work
        # (same parameters) as a wrong password and the two cannot be told apart by timing.
        self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(32))
        self._pool = ThreadPoolExecutor(
            max_workers=settings.hashing_threads, thread_name_prefix="argon2"
        )

    async def verify(self, password_hash: str | None, password: str) -> tuple[bool, float]:
        """(matches, seconds spent hashing). ``None`` means the user is unknown. Raises
        ``PasswordRejected`` when the password cannot be prepared (RFC 8265)."""
        verification = await self.check(password_hash, password)
        return verification.matches, verification.seconds

    async def check(self, password_hash: str | None, password: str) -> Verification:
        """Like ``verify``, and says whether a match should be re-hashed (see ``Verification``)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._check_forms, password_hash, password)

    async def prepare(self, password: str) -> str:
        """``prepare_password``, in the pool (off the event loop) unless the password is printable
        ASCII of allowed length, which RFC 8265 §4.2 leaves as it is: that check costs
        microseconds, less than the hop to a thread and back, and such a password no longer
        waits behind the argon2 runs queued in the pool. Raises ``PasswordRejected``."""
        if len(password) <= MAX_PASSWORD_CHARS and _plain(password):
            return password
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, prepare_password, password)

    async def hash(self, password: str) -> str:
        """A new argon2id hash of the prepared password, computed in the same pool (off the event
        loop). Raises ``PasswordRejected``."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._hash_prepared, password)

    def _hash_prepared(self, password: str) -> str:
        return self._hasher.hash(prepare_password(password))

    def _check_forms(self, password_hash: str | None, password: str) -> Verification:
        # The prepared form first; the form as sent only for hashes made before preparation. An
        # unknown user runs the dummy hash as often, so the count of argon2 runs depends on the
        # text sent, never on whether the account exists.
        prepared = prepare_password(password)
        forms = (prepared,) if prepared == password else (prepared, password)
        started = time.perf_counter()
        for index, form in enumerate(forms):
            if self._check(password_hash, form):
                assert password_hash is not None
                rehash = index > 0 or self._hasher.check_needs_rehash(password_hash)
                return Verification(True, time.perf_counter() - started, rehash)
        return Verification(False, time.perf_counter() - started)

    def _check(self, password_hash: str | None, password: str) -> bool:
        if password_hash is None:
            self._check(self._dummy_hash, password)
            return False
        try:
            return self._hasher.verify(password_hash, password)
        except VerificationError:
            return False
        except InvalidHashError:
            # A corrupt stored hash: still spend the argon2 time so it cannot be told apart.
            return self._check(None, password)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
