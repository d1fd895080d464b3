"""argon2id password hashing with the configured cost, verified off the event loop."""

from __future__ import annotations

import asyncio
import secrets
import time
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from schemas.settings import Settings


def make_hasher(settings: Settings) -> PasswordHasher:
    return PasswordHasher(
        time_cost=settings.argon2_time_cost,
        memory_cost=settings.argon2_memory_kib,
        parallelism=settings.argon2_parallelism,
        type=Type.ID,
    )


def hash_password(settings: Settings, password: str) -> str:
    return make_hasher(settings).hash(password)


class PasswordVerifier:
    """Runs argon2id verification in a bounded thread pool; argon2 releases the GIL."""

    def __init__(self, settings: Settings) -> None:
        self._hasher = make_hasher(settings)
        # Verified against when the user is unknown, so an unknown user costs the same argon2 work
        # (same parameters) as a wrong password and the two cannot be told apart by timing.
        self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(32))
        self._pool = ThreadPoolExecutor(
            max_workers=settings.hashing_threads, thread_name_prefix="argon2"
        )

    async def verify(self, password_hash: str | None, password: str) -> tuple[bool, float]:
        """(matches, seconds spent hashing). ``None`` means the user is unknown."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._verify_sync, password_hash, password)

    async def hash(self, password: str) -> str:
        """A new argon2id hash, computed in the same pool (off the event loop)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._hasher.hash, password)

    def _verify_sync(self, password_hash: str | None, password: str) -> tuple[bool, float]:
        started = time.perf_counter()
        ok = self._check(password_hash, password)
        return ok, time.perf_counter() - started

    def _check(self, password_hash: str | None, password: str) -> bool:
        if password_hash is None:
            self._check(self._dummy_hash, password)
            return False
        try:
            return self._hasher.verify(password_hash, password)
        except VerificationError:
            return False
        except InvalidHashError:
            # A corrupt stored hash: still spend the argon2 time so it cannot be told apart.
            return self._check(None, password)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
