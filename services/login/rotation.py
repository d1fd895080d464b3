"""Signing-key rotation, retirement and self-healing, run by every login endpoint.

Rotation: ``authctl keys rotate`` publishes the new public key, then atomically replaces the
region's key file. Each endpoint polls the file every ``key_watch_interval_s``; on a new key it
publishes it again (acknowledged, so no token is signed with a key the log does not know) and
only then signs with it. Tokens of the old key keep verifying through its published public key.

Retirement: an own-region key that is no longer the signing key is retired (signing_key.retired)
once its successor has been published for ``access_token_ttl_s + key_retire_grace_s``: every
token it signed has expired by then (the grace covers clock skew and endpoints still polling).
The signing key itself is never retired, even if a newer key was published but not installed.

Healing: if this region's signing key is revoked (compromised), the endpoint generates, installs
and publishes a new one at once instead of signing tokens that are dead on arrival.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime

from schemas.envelope import Envelope, wrap
from schemas.events import SigningKeyPublished, SigningKeyRetired
from schemas.settings import Settings
from services.core import keys
from services.core.readmodel import StoreUnavailable
from services.login.events import PublishFailed
from services.login.signer import Signer
from services.verifier.keystatus import KeyStates, KeyStatus

log = logging.getLogger(__name__)
Publish = Callable[[Envelope], Awaitable[None]]
States = Callable[[], Awaitable[KeyStates]]


def published_event(key: keys.SigningKey, region: str, issuer: str) -> Envelope:
    """The public half of ``key`` for every region, tied to ``region`` and its ``issuer``."""
    event = SigningKeyPublished(
        kid=key.kid, region=region, alg=key.alg, public_jwk=dict(key.public_jwk), issuer=issuer
    )
    return wrap(event, user_id=None, origin_region=region, correlation_id=str(uuid.uuid4()))


class KeyWatcher:
    """Rotates, retires and heals the signing key that ``signer`` owns; ``clock`` in epoch s."""

    def __init__(
        self,
        settings: Settings,
        signer: Signer,
        publish: Publish,
        states: States,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._s = settings
        self._signer = signer
        self._publish = publish
        self._states = states
        self._clock = clock
        self._version = self._file_version()
        self._retired: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    @property
    def current(self) -> keys.SigningKey:
        """The key tokens are signed with now (owned by the signer)."""
        return self._signer.key

    def start(self) -> None:
        if self._task is None and self._s.key_watch_interval_s > 0:
            self._task = asyncio.create_task(self._run(), name="key-watcher")

    async def close(self) -> None:
        # Stop cooperatively as well as by cancelling: a cancellation swallowed inside a library
        # call during a tick (3.11's asyncio.wait_for can lose one) must not leave the loop
        # running and shutdown waiting for it forever.
        self._closing = True
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=self._s.key_watch_interval_s + 5)
        if not done:
            log.error("key watcher did not stop; abandoning it")

    async def _run(self) -> None:
        while not self._closing:
            await asyncio.sleep(self._s.key_watch_interval_s)
            try:
                await self.tick()
            except (PublishFailed, StoreUnavailable) as exc:
                log.warning("key watcher will retry", extra={"err": repr(exc)})

    async def tick(self) -> None:
        await self.reload_if_replaced()
        try:
            states = await self._states()
        except StoreUnavailable:
            return  # nothing to retire or heal until the stores answer
        await self.heal_if_revoked(states.revoked)
        await self.retire_due(states.statuses())

    def _file_version(self) -> tuple[int, int, int] | None:
        return keys.file_version(self._s.key_dir, self._s.region, self._s.signing_alg)

    async def reload_if_replaced(self) -> None:
        version = self._file_version()
        if version == self._version or version is None:
            return
        try:
            key = keys.load(self._s.key_dir, self._s.region, self._s.signing_alg)
        except keys.KeyFileError as exc:
            # A running endpoint keeps its key in memory rather than stop signing.
            log.error(
                "replaced key file unusable; keeping the current key", extra={"err": str(exc)}
            )
            self._version = version
            return
        if key.kid != self.current.kid:
            await self.activate(key)  # raises before _version moves on: retried next tick
        self._version = version

    async def activate(self, key: keys.SigningKey) -> None:
        await self._publish(published_event(key, self._s.region, self._s.token_issuer))
        old = self.current.kid
        self._signer.install(key)
        log.info("signing key rotated", extra={"old_kid": old, "kid": key.kid})

    async def heal_if_revoked(self, revoked: set[str]) -> None:
        if self.current.kid not in revoked:
            return
        log.warning("signing key revoked; rotating to a new one", extra={"kid": self.current.kid})
        key = keys.signing_key(keys.generate_private_key(self._s.signing_alg), self._s.signing_alg)
        keys.install(self._s.key_dir, self._s.region, key)
        await self.activate(key)
        self._version = self._file_version()

    async def retire_due(self, statuses: list[KeyStatus]) -> None:
        own = [s.key for s in statuses if s.key.region == self._s.region]
        published = {k.kid: at for k in own if (at := _parse(k.published_at)) is not None}
        lifetime = self._s.access_token_ttl_s + self._s.key_retire_grace_s
        for status in statuses:
            kid = status.key.kid
            if not status.active or kid == self.current.kid or kid in self._retired:
                continue
            if kid not in published:
                continue
            later = [at for at in published.values() if at > published[kid]]
            if later and self._clock() >= min(later).timestamp() + lifetime:
                await self._retire(kid)

    async def _retire(self, kid: str) -> None:
        region = self._s.region
        event = SigningKeyRetired(kid=kid, region=region)
        await self._publish(
            wrap(event, user_id=None, origin_region=region, correlation_id=str(uuid.uuid4()))
        )
        self._retired.add(kid)
        log.info("signing key retired", extra={"kid": kid})


def _parse(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if text else None
    except ValueError:
        return None
