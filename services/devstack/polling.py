"""Waiting for something to come true within a deadline: the launcher's one polling primitive.

Built on tenacity (stop after a delay, a fixed wait between attempts, retry while the probe says
"not yet"): the launcher's start-up, readiness and shutdown waits only say what to check. An
exception from a probe is not retried: it ends the wait and reaches the caller unchanged (a child
that died while we waited, for example).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from tenacity import AsyncRetrying, Retrying, retry_if_result, stop_after_delay, wait_fixed


def _not_yet(ok: bool) -> bool:
    return not ok


def until(probe: Callable[[], bool], timeout_s: float, interval_s: float) -> bool:
    """Call ``probe`` every ``interval_s`` (s) until it returns True (-> True) or ``timeout_s``
    (s) has passed since the first call (-> False). Exceptions from ``probe`` propagate."""
    retrying = Retrying(
        stop=stop_after_delay(timeout_s),
        wait=wait_fixed(interval_s),
        retry=retry_if_result(_not_yet),
        retry_error_callback=lambda _: False,
    )
    return bool(retrying(probe))


async def until_async(
    probe: Callable[[], Awaitable[bool]], timeout_s: float, interval_s: float
) -> bool:
    """``until`` for a coroutine probe; waits with ``asyncio.sleep``."""
    retrying = AsyncRetrying(
        stop=stop_after_delay(timeout_s),
        wait=wait_fixed(interval_s),
        retry=retry_if_result(_not_yet),
        retry_error_callback=lambda _: False,
    )
    return bool(await retrying(probe))
