"""Epoch time conversions shared by every process, named once.

Every stored or transmitted instant is either epoch **milliseconds** (Redis scores and fields,
Kafka timestamps) or epoch **seconds** (JWT ``iat``/``exp``/``nbf``, RFC 7519 section 2
"NumericDate"; Redis ``EXPIREAT``). The conversions use integer arithmetic on ``timedelta``:
``datetime.timestamp() * 1000`` goes through a float and can turn ``.123`` into ``122``, which
makes two processes disagree about the same instant.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
"""1970-01-01T00:00:00Z, timezone-aware."""

_MS = timedelta(milliseconds=1)
_S = timedelta(seconds=1)


def epoch_ms(moment: datetime) -> int:
    """Epoch milliseconds of an aware datetime, floored (exact, no float).

    Raises ``TypeError`` for a naive datetime (it cannot be compared with ``EPOCH``).
    """
    return (moment - EPOCH) // _MS


def epoch_s(moment: datetime) -> int:
    """Epoch seconds of an aware datetime, floored (RFC 7519 NumericDate for ``iat``)."""
    return (moment - EPOCH) // _S


def epoch_s_ceil(moment: datetime) -> int:
    """Epoch seconds rounded up: an expiry must not lapse a fraction of a second early."""
    return math.ceil((moment - EPOCH) / _S)


def from_epoch_ms(ms: int) -> datetime:
    """The aware UTC datetime of ``ms`` epoch milliseconds (exact, no float)."""
    return EPOCH + ms * _MS


def from_epoch_s(seconds: int) -> datetime:
    """The aware UTC datetime of ``seconds`` epoch seconds."""
    return EPOCH + seconds * _S
