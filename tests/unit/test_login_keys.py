"""The signing key on disk: created private, reloaded stable, refused when exposed."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from services.core.keys import KeyFileError, jwk_thumbprint, key_path, load_or_create


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("alg", ["RS256", "ES256", "EdDSA"])
def test_created_key_is_private_and_reloads_with_the_same_kid(tmp_path: Path, alg: str) -> None:
    key_dir = tmp_path / "keys"
    created = load_or_create(key_dir, "eu", alg)
    assert _mode(key_dir) == 0o700
    assert _mode(key_path(key_dir, "eu", alg)) == 0o600
    reloaded = load_or_create(key_dir, "eu", alg)
    assert reloaded.kid == created.kid == jwk_thumbprint(created.public_jwk)
    assert "d" not in created.public_jwk  # the private exponent / scalar never leaves
    assert created.kid not in repr(created.private_key)
    assert "PRIVATE" not in repr(created)


def test_regions_get_distinct_keys(tmp_path: Path) -> None:
    assert (
        load_or_create(tmp_path, "eu", "ES256").kid != load_or_create(tmp_path, "us", "ES256").kid
    )


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660])
def test_group_or_world_readable_key_is_refused(tmp_path: Path, mode: int) -> None:
    load_or_create(tmp_path, "eu", "EdDSA")
    key_path(tmp_path, "eu", "EdDSA").chmod(mode)
    with pytest.raises(KeyFileError, match="chmod 600") as caught:
        load_or_create(tmp_path, "eu", "EdDSA")
    assert "\n" not in str(caught.value)


def test_garbage_key_file_is_refused(tmp_path: Path) -> None:
    path = key_path(tmp_path, "eu", "RS256")
    path.write_bytes(b"not a pem")
    path.chmod(0o600)
    with pytest.raises(KeyFileError, match="not an unencrypted PEM"):
        load_or_create(tmp_path, "eu", "RS256")


def test_key_of_the_wrong_type_is_refused(tmp_path: Path) -> None:
    load_or_create(tmp_path, "eu", "ES256")
    key_path(tmp_path, "eu", "ES256").rename(key_path(tmp_path, "eu", "RS256"))
    with pytest.raises(KeyFileError, match="not a RS256 key"):
        load_or_create(tmp_path, "eu", "RS256")
