"""Progress lines of replay and reseed when stderr is not a terminal (CI, a parent process)."""

from __future__ import annotations

import pytest

from streams.replay.progress import LineReporter


def test_the_total_is_printed_as_soon_as_it_is_known(capsys: pytest.CaptureFixture[str]) -> None:
    # A run shorter than the line interval used to print nothing, so its total was never seen.
    progress = LineReporter("replay us")
    progress.update(0, 8004)
    progress.close()

    assert capsys.readouterr().err.splitlines() == ["replay us: 0 events of 8,004, 0 events/s"]


def test_an_unknown_total_waits_for_the_line_interval(capsys: pytest.CaptureFixture[str]) -> None:
    progress = LineReporter("replay us")
    progress.update(0, None)  # Tansu before its first fetch: no high watermark yet

    assert capsys.readouterr().err == ""
