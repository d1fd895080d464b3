"""The login endpoint's wall clock: where it reads the time it writes into tokens and events.

``Runtime.clock`` is this seam. Production always uses ``system_clock``; tests replace it to play
a region whose clock is wrong (the revocation rule must hold for clock errors up to the skew
bound, see services.verifier.rule).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

Clock = Callable[[], datetime]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def system_clock() -> datetime:
    """Now, timezone-aware UTC."""
    return datetime.now(UTC)


def epoch_ms(moment: datetime) -> int:
    """Exact epoch milliseconds of an aware datetime (integer arithmetic, floored)."""
    return (moment - _EPOCH) // timedelta(milliseconds=1)
