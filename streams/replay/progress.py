"""Replay progress on stderr: a rich bar with events/s and an ETA on a terminal, plain periodic
lines otherwise (logs, CI, a parent capturing output)."""

from __future__ import annotations

import sys
import time
from typing import Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

LINE_EVERY_S = 2.0


class Reporter(Protocol):
    def update(self, done: int, remaining: int | None) -> None: ...

    def close(self) -> None: ...


def reporter(label: str, force_plain: bool = False) -> Reporter:
    if sys.stderr.isatty() and not force_plain:
        return BarReporter(label)
    return LineReporter(label)


class BarReporter:
    def __init__(self, label: str) -> None:
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]:>9} events/s"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        self._task = self._progress.add_task(label, total=None, rate="-")
        self._started = time.monotonic()
        self._progress.start()

    def update(self, done: int, remaining: int | None) -> None:
        total = None if remaining is None else done + remaining
        rate = done / max(time.monotonic() - self._started, 1e-6)
        self._progress.update(self._task, completed=done, total=total, rate=f"{rate:,.0f}")

    def close(self) -> None:
        self._progress.stop()


class LineReporter:
    """One line every ``LINE_EVERY_S`` s, and one at once when the total first becomes known
    (a short run would otherwise end before its first line and never show its total)."""

    def __init__(self, label: str) -> None:
        self._label = label
        self._started = time.monotonic()
        self._last = self._started
        self._told_total = False

    def update(self, done: int, remaining: int | None) -> None:
        now = time.monotonic()
        first_total = remaining is not None and not self._told_total
        if now - self._last < LINE_EVERY_S and not first_total:
            return
        self._last = now
        self._told_total = self._told_total or remaining is not None
        rate = done / max(now - self._started, 1e-6)
        if remaining is None:
            tail = ""
        else:
            eta = f", ETA {remaining / rate:.0f} s" if rate > 0 else ""
            tail = f" of {done + remaining:,}{eta}"
        print(f"{self._label}: {done:,} events{tail}, {rate:,.0f} events/s", file=sys.stderr)

    def close(self) -> None:
        pass
