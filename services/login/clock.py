"""The login endpoint's wall clock: where it reads the time it writes into tokens and events.

``PasswordGrant.clock`` is the seam. Production always uses ``system_clock``; tests replace it to
play a region whose clock is wrong (the revocation rule must hold for clock errors up to the skew
bound, see services.verifier.rule).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from schemas.epoch import epoch_ms

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """Now, timezone-aware UTC."""
    return datetime.now(UTC)


def now_ms() -> int:
    """Now in epoch milliseconds (floored, no float: ``schemas.epoch``)."""
    return epoch_ms(system_clock())
