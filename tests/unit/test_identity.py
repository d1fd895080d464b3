"""Usernames normalise to one spelling, and that spelling to one stable user id (partition key)."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.identity import InvalidUsername, normalize_username, user_id_for

FULLWIDTH_ALICE = "\uff21\uff2c\uff29\uff23\uff25"


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("alice", "alice"),
        ("Alice", "alice"),
        ("  BOB\t\n", "bob"),
        (FULLWIDTH_ALICE, "alice"),  # fullwidth letters (NFKC)
        ("ﬁona", "fiona"),  # ligature (NFKC)
        ("\u212aate", "kate"),  # Kelvin sign, which looks like K
        ("STRASSE", "strasse"),
        ("Stra\u00dfe", "strasse"),  # casefold, not lower(): the sharp s is ss
        ("j.doe+tag@example.com", "j.doe+tag@example.com"),
        ("x" * 128, "x" * 128),
    ],
)
def test_spellings_of_one_name_normalise_alike(raw: str, normalised: str) -> None:
    assert normalize_username(raw) == normalised


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "-alice",
        ".alice",
        "al ice",
        "josé",
        "al\x00ice",
        "a/b",
        "x" * 129,
        "ali\u200bce",
        "\u0430lice",
    ],
)
def test_invalid_names_are_rejected_with_the_rule(raw: str) -> None:
    with pytest.raises(InvalidUsername, match="1-128 characters"):
        normalize_username(raw)


NAMES = st.from_regex(r"[a-z0-9][a-z0-9._@+-]{0,40}", fullmatch=True)


@given(NAMES)
def test_normalising_twice_changes_nothing(name: str) -> None:
    once = normalize_username(name.upper())
    assert normalize_username(once) == once == name


def test_user_id_is_stable_across_releases() -> None:
    """Changing it would move existing users to other partitions and split their history."""
    assert user_id_for("alice") == "501dfff1-5283-5655-b900-9502fe62b4c4"


@given(NAMES, NAMES)
def test_distinct_names_get_distinct_uuid_ids(a: str, b: str) -> None:
    id_a, id_b = user_id_for(a), user_id_for(b)
    assert uuid.UUID(id_a).version == 5
    assert (id_a == id_b) == (a == b)


def test_differently_typed_spellings_share_one_id() -> None:
    spellings = ["Alice", " alice ", FULLWIDTH_ALICE, "ALICE"]
    assert len({user_id_for(normalize_username(s)) for s in spellings}) == 1
