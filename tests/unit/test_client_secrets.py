"""Client secrets: random, shown once, stored only as a digest that matches exactly that secret."""

from __future__ import annotations

import base64
import hashlib

from hypothesis import given
from hypothesis import strategies as st

from schemas import names
from schemas.client_secrets import client_secret_matches, hash_client_secret, new_client_secret


def test_a_new_secret_is_256_random_bits_in_base64url() -> None:
    secret = new_client_secret()
    raw = base64.urlsafe_b64decode(secret + "=")
    assert len(raw) == 32
    assert len({new_client_secret() for _ in range(64)}) == 64


def test_the_stored_form_is_the_sha256_hex_digest_and_never_the_secret() -> None:
    secret = new_client_secret()
    stored = hash_client_secret(secret)
    assert stored == "sha256:" + hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in stored


@given(st.text(min_size=1), st.text(min_size=1))
def test_only_the_same_secret_matches(secret: str, other: str) -> None:
    stored = hash_client_secret(secret)
    assert client_secret_matches(stored, secret)
    assert client_secret_matches(stored, other) == (other == secret)


def test_a_client_without_a_secret_never_matches() -> None:
    assert not client_secret_matches("", "")
    assert not client_secret_matches("", "anything")
    assert not client_secret_matches("md5:" + hashlib.md5(b"x").hexdigest(), "x")  # noqa: S324


def test_client_names_follow_the_contract() -> None:
    assert names.client_partition_key("app") == "client:app"
    assert names.redis_client_key("app") == "client:v1:app"
    assert names.TABLE_OAUTH_CLIENTS == "oauth_clients_v1"
    dev = (names.DEV_PUBLIC_CLIENT_ID, names.DEV_SERVICE_CLIENT_ID, names.DEV_RESOURCE_SERVER_ID)
    assert dev == ("authplane-cli", "authplane-service", "authplane-api")
    assert names.DEV_AUDIENCE == "https://api.authplane.dev"
