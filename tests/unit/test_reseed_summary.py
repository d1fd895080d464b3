"""What `reseed` concludes from the log's end offsets (Kafka) after publishing."""

from __future__ import annotations

from streams.replay.reseed import ReseedSummary, render


def test_a_log_holding_more_than_was_published_is_trouble() -> None:
    doubled = ReseedSummary(published=1600, held_before=0, in_log=1700)

    assert doubled.miscounted
    assert render(["eu"], "k:9092", doubled).splitlines()[-1] == (
        "exit 2: the log holds 1,700 events, not 1,600"
    )


def test_what_it_held_before_plus_what_was_published_is_right() -> None:
    forced = ReseedSummary(published=1600, held_before=1600, in_log=3200)

    assert not forced.miscounted
    assert "exit 2" not in render(["eu"], "k:9092", forced)


def test_without_exact_end_offsets_nothing_is_claimed() -> None:
    tansu = ReseedSummary(published=1600, in_log=None)

    assert not tansu.miscounted
    assert "now in the log" not in render(["eu"], "k:9092", tansu)
