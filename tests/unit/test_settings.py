"""Settings: the AUTHPLANE_* environment is the contract between a launcher and its processes."""

from __future__ import annotations

import string
from dataclasses import fields
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.settings import PREFIX, SIGNING_ALGS, Settings, SettingsError, setting_names


def test_an_empty_environment_gives_the_defaults() -> None:
    assert Settings.from_env({}) == Settings()


def test_values_are_parsed_to_their_types() -> None:
    settings = Settings.from_env(
        {
            "AUTHPLANE_REGION": "us",
            "AUTHPLANE_HTTP_PORT": "9001",
            "AUTHPLANE_PRODUCE_TIMEOUT_S": "2.5",
            "AUTHPLANE_FAIL_OPEN": "yes",
            "AUTHPLANE_KEY_DIR": "/var/lib/authplane/keys",
            "AUTHPLANE_INTROSPECTION_CLIENTS": "gateway:s3cr:et, admin:pw",
            "AUTHPLANE_SIGNING_ALG": "EdDSA",
        }
    )
    assert settings.region == "us"
    assert settings.http_port == 9001
    assert settings.produce_timeout_s == 2.5
    assert settings.fail_open is True
    assert settings.key_dir == Path("/var/lib/authplane/keys")
    assert settings.introspection_clients == {"gateway": "s3cr:et", "admin": "pw"}
    assert settings.signing_alg == "EdDSA"


def test_variables_without_the_prefix_are_ignored() -> None:
    assert Settings.from_env({"HTTP_PORT": "1", "REGION": "us"}) == Settings()


def test_overrides_beat_the_environment() -> None:
    assert Settings.from_env({"AUTHPLANE_HTTP_PORT": "1"}, http_port=2).http_port == 2


@pytest.mark.parametrize(
    ("variable", "raw"),
    [
        ("AUTHPLANE_HTTP_PORT", "eighty"),
        ("AUTHPLANE_TOPIC_PARTITIONS", "8.5"),
        ("AUTHPLANE_PRODUCE_TIMEOUT_S", "soon"),
        ("AUTHPLANE_FAIL_OPEN", "maybe"),
        ("AUTHPLANE_INTROSPECTION_CLIENTS", "gateway"),
        ("AUTHPLANE_INTROSPECTION_CLIENTS", "gateway:"),
        ("AUTHPLANE_SIGNING_ALG", "HS256"),
        ("AUTHPLANE_SIGNING_ALG", "none"),
        ("AUTHPLANE_REGION", "eu west"),
        ("AUTHPLANE_REGION", ""),
    ],
)
def test_a_bad_value_is_rejected_naming_its_variable(variable: str, raw: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        Settings.from_env({variable: raw})


def test_only_asymmetric_signing_algorithms_are_accepted() -> None:
    """A shared-secret alg would let every verifying region mint tokens."""
    assert set(SIGNING_ALGS) == {"RS256", "ES256", "EdDSA"}
    for alg in SIGNING_ALGS:
        assert Settings(signing_alg=alg).signing_alg == alg


def test_setting_names_are_the_variables_to_env_writes() -> None:
    names = setting_names()
    assert names == list(Settings().to_env())
    assert all(n.startswith(PREFIX) and n == n.upper() for n in names)
    assert len(names) == len(fields(Settings))


def test_derived_values_fill_in_what_was_left_empty() -> None:
    assert Settings(region="us").token_issuer == "https://us.authplane.local"
    assert Settings(issuer="https://id.example").token_issuer == "https://id.example"
    assert Settings(argon2_threads=3).hashing_threads == 3
    assert Settings().hashing_threads >= 1


IDENT = st.from_regex(r"[a-z][a-z0-9_]{0,11}", fullmatch=True)
WORD = st.text(alphabet=string.ascii_letters + string.digits + "-_.", min_size=1, max_size=20)
SECRET = st.text(alphabet=string.ascii_letters + string.digits + "-_.:=+/", min_size=1)

SETTINGS = st.builds(
    Settings,
    region=IDENT,
    kafka_bootstrap=WORD,
    http_port=st.integers(min_value=0, max_value=65535),
    issuer=st.text(max_size=30),
    signing_alg=st.sampled_from(SIGNING_ALGS),
    key_dir=WORD.map(Path),
    produce_timeout_s=st.floats(min_value=0, max_value=1e6),
    introspection_clients=st.dictionaries(WORD, SECRET, max_size=3),
    argon2_threads=st.integers(min_value=0, max_value=64),
    fail_open=st.booleans(),
    broker_session_timeout_s=st.floats(min_value=0.001, max_value=600),
)


@given(SETTINGS)
def test_to_env_round_trips_through_from_env(settings: Settings) -> None:
    """The launcher hands Settings to child processes as environment; nothing may change."""
    assert Settings.from_env(settings.to_env()) == settings
