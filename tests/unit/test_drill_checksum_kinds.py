"""A drill whose regions' checksums differ names the kinds of record that differ."""

from __future__ import annotations

from services.devstack.drill.check import differing_kinds


def _doc(kinds: dict[str, tuple[int, str]]) -> dict[str, object]:
    return {
        "overall": "".join(d for _, d in kinds.values()),
        "kinds": {k: {"count": n, "digest": d} for k, (n, d) in kinds.items()},
    }


def test_only_the_kinds_that_differ_are_named_with_each_regions_count() -> None:
    same = {"redis sess:v1:": (40, "aa"), "pg revocations": (5, "bb")}
    docs = {
        "eu": _doc({**same, "pg archive": (310, "cc")}),
        "us": _doc({**same, "pg archive": (310, "cc")}),
        "ap": _doc({**same, "pg archive": (302, "dd")}),
    }
    assert differing_kinds(docs) == "pg archive (eu=310, us=310, ap=302)"


def test_a_kind_one_region_lacks_is_shown_with_a_dash() -> None:
    docs = {"eu": _doc({"pg sessions": (3, "aa")}), "us": _doc({})}
    assert differing_kinds(docs) == "pg sessions (eu=3, us=-)"


def test_a_region_whose_checksum_failed_is_named_apart_from_the_kinds_that_differ() -> None:
    docs: dict[str, dict[str, object]] = {
        "eu": _doc({"pg sessions": (3, "aa"), "pg archive": (9, "cc")}),
        "us": _doc({"pg sessions": (4, "bb"), "pg archive": (9, "cc")}),
        "ap": {"overall": "?"},
    }
    assert differing_kinds(docs) == "ap: checksum failed; pg sessions (eu=3, us=4)"
