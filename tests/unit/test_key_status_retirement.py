"""When a login endpoint retires its region's rotated-out keys: only after the successor has been
out for the token lifetime plus grace, never its own signing key, never another region's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from schemas.envelope import Envelope
from schemas.events import SigningKeyRetired
from schemas.settings import Settings
from services.core import keys
from services.core.readmodel import PublishedKey
from services.login.keyring import Keyring
from services.login.rotation import KeyWatcher
from services.login.signer import Signer
from services.verifier.keystatus import KeyStates, KeyStatus

T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def published(kid: str, at: datetime, region: str = "eu") -> PublishedKey:
    return PublishedKey(kid, region, "ES256", {}, at.isoformat())


def watcher(now: datetime, current_kid: str, sent: list[Envelope], tmp: Path) -> KeyWatcher:
    key = keys.signing_key(keys.generate_private_key("ES256"), "ES256")
    current = keys.SigningKey(current_kid, key.alg, key.private_key, key.public_jwk)

    async def publish(envelope: Envelope) -> None:
        sent.append(envelope)

    async def states() -> KeyStates:
        raise AssertionError("not used")

    settings = Settings(
        region="eu", access_token_ttl_s=900, key_retire_grace_s=60, key_dir=tmp / "keys"
    )

    async def no_keys() -> list[PublishedKey]:
        return []

    signer = Signer(current, settings.region, settings.token_issuer, Keyring(None, no_keys))
    return KeyWatcher(settings, signer, publish, states, clock=now.timestamp)


def statuses(*keys_: PublishedKey, retired: frozenset[str] = frozenset()) -> list[KeyStatus]:
    return [KeyStatus(k, k.kid in retired, False) for k in keys_]


async def test_the_old_key_retires_once_its_successor_outlived_the_token_lifetime(
    tmp_path: Path,
) -> None:
    keys_ = statuses(published("old", T0), published("new", T0 + timedelta(hours=1)))
    due = T0 + timedelta(hours=1, seconds=960)
    for now, expected in ((due - timedelta(seconds=1), []), (due, ["old"])):
        sent: list[Envelope] = []
        await watcher(now, "new", sent, tmp_path).retire_due(keys_)
        assert [e.payload.kid for e in sent] == expected
    assert isinstance(sent[0].payload, SigningKeyRetired)
    assert sent[0].payload.region == "eu"


async def test_the_signing_key_and_other_regions_keys_are_never_retired(tmp_path: Path) -> None:
    late = T0 + timedelta(days=30)
    keys_ = statuses(
        published("current", T0),
        published("newer-but-not-installed", T0 + timedelta(hours=1)),
        published("us-old", T0, region="us"),
        published("us-new", T0 + timedelta(hours=1), region="us"),
    )
    sent: list[Envelope] = []
    await watcher(late, "current", sent, tmp_path).retire_due(keys_)
    assert sent == []


async def test_an_already_retired_key_is_not_retired_again(tmp_path: Path) -> None:
    keys_ = statuses(
        published("old", T0), published("new", T0 + timedelta(hours=1)), retired=frozenset({"old"})
    )
    sent: list[Envelope] = []
    await watcher(T0 + timedelta(days=1), "new", sent, tmp_path).retire_due(keys_)
    assert sent == []
