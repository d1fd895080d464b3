"""RFC 8265 OpaqueString preparation of passwords, and re-hash decisions for older hashes."""

from __future__ import annotations

import asyncio
import unicodedata

import pytest
from argon2 import PasswordHasher, Type
from hypothesis import given
from hypothesis import strategies as st
from precis_i18n import get_profile

from schemas.settings import Settings
from services.core.passwords import (
    MAX_PASSWORD_CHARS,
    PasswordRejected,
    PasswordVerifier,
    hash_password,
    make_hasher,
    prepare_password,
)

CHEAP = Settings(argon2_memory_kib=8192, argon2_time_cost=1, argon2_parallelism=1, argon2_threads=2)
NFC = "Mañana-Contraseña-ö"
NFD = unicodedata.normalize("NFD", NFC)


@pytest.fixture(scope="module")
def verifier() -> PasswordVerifier:
    return PasswordVerifier(CHEAP)


def test_nfd_and_nfc_prepare_to_the_same_text() -> None:
    assert NFD != NFC
    assert prepare_password(NFD) == prepare_password(NFC) == NFC


@pytest.mark.parametrize(
    ("sent", "prepared"),
    [
        ("a\u00a0b\u3000c", "a b c"),  # RFC 8265 §4.2.1: non-ASCII spaces map to U+0020
        ("\uff21\uff22", "\uff21\uff22"),  # fullwidth A B: no width mapping
        ("CaSe", "CaSe"),  # no case mapping
        (" leading and trailing ", " leading and trailing "),
    ],
)
def test_only_the_mappings_rfc_8265_asks_for(sent: str, prepared: str) -> None:
    assert prepare_password(sent) == prepared


@pytest.mark.parametrize(
    ("sent", "why"),
    [
        ("zqx\x00zqy", "control character"),
        ("zqx\tzqy", "control character"),
        ("zqx\u200dzqy", "zero-width joiner"),
        ("zqx\U000e0001zqy", "default-ignorable"),
        ("", "is empty"),
    ],
)
def test_disallowed_code_points_are_refused_without_echoing_them(sent: str, why: str) -> None:
    with pytest.raises(PasswordRejected, match=why) as caught:
        prepare_password(sent)
    message = str(caught.value)
    assert "zq" not in message
    assert not any(unicodedata.category(ch).startswith("C") for ch in message)


@given(st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1))
def test_the_printable_ascii_shortcut_agrees_with_the_library(password: str) -> None:
    assert prepare_password(password) == get_profile("OpaqueString").enforce(password)


def test_overlong_passwords_are_refused_before_any_unicode_work() -> None:
    assert prepare_password("ñ" * MAX_PASSWORD_CHARS) == "ñ" * MAX_PASSWORD_CHARS
    with pytest.raises(PasswordRejected, match=f"longer than {MAX_PASSWORD_CHARS}"):
        prepare_password("ñ" * (MAX_PASSWORD_CHARS + 1))


def test_hashing_prepares_first() -> None:
    assert PasswordHasher().verify(hash_password(CHEAP, NFD), NFC)
    with pytest.raises(PasswordRejected):
        hash_password(CHEAP, "bell\x07")


async def test_nfd_verifies_against_a_hash_of_the_nfc_text(verifier: PasswordVerifier) -> None:
    stored = hash_password(CHEAP, NFC)
    checked = await verifier.check(stored, NFD)
    assert checked.matches
    assert not checked.rehash
    assert (await verifier.verify(stored, NFD))[0] is True


async def test_a_hash_made_before_preparation_still_verifies_and_asks_for_a_rehash(
    verifier: PasswordVerifier,
) -> None:
    legacy = make_hasher(CHEAP).hash(NFD)  # what the code before RFC 8265 stored
    checked = await verifier.check(legacy, NFD)
    assert checked.matches
    assert checked.rehash
    assert not (await verifier.check(legacy, "wrong")).matches


async def test_a_hash_with_older_argon2_parameters_asks_for_a_rehash(
    verifier: PasswordVerifier,
) -> None:
    older = PasswordHasher(time_cost=1, memory_cost=4096, parallelism=1, type=Type.ID).hash("pw")
    checked = await verifier.check(older, "pw")
    assert checked.matches
    assert checked.rehash


async def test_hash_in_the_pool_prepares_too(verifier: PasswordVerifier) -> None:
    assert PasswordHasher().verify(await verifier.hash(NFD), NFC)
    with pytest.raises(PasswordRejected):
        await verifier.hash("\x00")


async def test_an_ascii_password_is_prepared_without_waiting_for_the_argon2_pool() -> None:
    """A login's preparation must not queue behind the password checks already in the pool
    (RFC 8265 leaves printable ASCII as it is); other text is still prepared in the pool."""
    one_thread = PasswordVerifier(CHEAP.model_copy(update={"argon2_threads": 1}))
    try:
        stored = hash_password(CHEAP, "correct horse")
        checking = asyncio.ensure_future(one_thread.check(stored, "correct horse"))
        await asyncio.sleep(0)  # the check now holds the pool's only thread
        assert await one_thread.prepare("correct horse") == "correct horse"
        assert not checking.done()
        assert await one_thread.prepare(NFD) == NFC
        assert checking.done()
        assert (await checking).matches
        with pytest.raises(PasswordRejected):
            await one_thread.prepare("x" * (MAX_PASSWORD_CHARS + 1))
    finally:
        one_thread.close()
