"""argon2id verification: right answers, and the same work for every kind of failure."""

from __future__ import annotations

import pytest

from schemas.settings import Settings
from services.core.passwords import PasswordVerifier, hash_password

SETTINGS = Settings(argon2_threads=2)


@pytest.fixture(scope="module")
def verifier() -> PasswordVerifier:
    return PasswordVerifier(SETTINGS)


def test_hash_uses_the_configured_argon2id_cost() -> None:
    cheap = Settings(argon2_memory_kib=8192, argon2_time_cost=1, argon2_parallelism=2)
    assert hash_password(cheap, "pw").startswith("$argon2id$v=19$m=8192,t=1,p=2$")
    assert hash_password(SETTINGS, "pw").startswith("$argon2id$v=19$m=19456,t=2,p=1$")


async def test_right_and_wrong_passwords(verifier: PasswordVerifier) -> None:
    stored = hash_password(SETTINGS, "correct horse")
    assert (await verifier.verify(stored, "correct horse"))[0] is True
    assert (await verifier.verify(stored, "correct horsE"))[0] is False


@pytest.mark.parametrize("stored", [None, "not-a-phc-string"])
async def test_unknown_users_and_corrupt_hashes_cost_a_full_verify(
    verifier: PasswordVerifier, stored: str | None
) -> None:
    real = hash_password(SETTINGS, "pw")
    _, wrong_password_seconds = await verifier.verify(real, "nope")
    matches, seconds = await verifier.verify(stored, "nope")
    assert matches is False
    # Same argon2 parameters, so within a generous factor of a genuine wrong-password check.
    assert seconds > wrong_password_seconds / 3
