"""The launcher's one polling primitive (tenacity underneath) and its thread hand-off."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from services.devstack.polling import until, until_async
from services.devstack.process import InfraError, run_in_thread


def _true_on(call: int) -> tuple[list[int], Callable[[], bool]]:
    calls: list[int] = []

    def probe() -> bool:
        calls.append(1)
        return len(calls) >= call

    return calls, probe


def test_until_returns_true_once_the_probe_does() -> None:
    calls, probe = _true_on(3)
    assert until(probe, timeout_s=30.0, interval_s=0.001) is True
    assert len(calls) == 3


def test_until_gives_up_false_when_the_probe_never_holds() -> None:
    calls, probe = _true_on(10**9)
    assert until(probe, timeout_s=0.05, interval_s=0.01) is False
    assert len(calls) >= 2


def test_an_exception_from_the_probe_ends_the_wait_unchanged() -> None:
    calls: list[int] = []

    def probe() -> bool:
        calls.append(1)
        raise InfraError("eu-redis exited with code 1 during start-up")

    with pytest.raises(InfraError, match="exited with code 1"):
        until(probe, timeout_s=30.0, interval_s=0.001)
    assert len(calls) == 1


async def test_until_async_polls_a_coroutine_probe() -> None:
    calls: list[int] = []

    async def probe() -> bool:
        calls.append(1)
        return len(calls) >= 2

    async def never() -> bool:
        return False

    assert await until_async(probe, timeout_s=30.0, interval_s=0.001) is True
    assert len(calls) == 2
    assert await until_async(never, timeout_s=0.05, interval_s=0.01) is False


def test_run_in_thread_returns_the_value_or_raises_here_from_another_thread() -> None:
    here = threading.get_ident()
    assert run_in_thread(threading.get_ident) != here
    assert run_in_thread(lambda: 42) == 42
    empty: dict[str, int] = {}
    with pytest.raises(KeyError, match="missing"):
        run_in_thread(lambda: empty["missing"])
