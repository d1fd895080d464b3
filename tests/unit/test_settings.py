"""Settings: the AUTHPLANE_* environment is the contract between a launcher and its processes."""

from __future__ import annotations

import string
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.broker import BROKER_KINDS
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
            "AUTHPLANE_SIGNING_ALG": "EdDSA",
        }
    )
    assert settings.region == "us"
    assert settings.http_port == 9001
    assert settings.produce_timeout_s == 2.5
    assert settings.fail_open is True
    assert settings.key_dir == Path("/var/lib/authplane/keys")
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
        assert Settings.from_env({"AUTHPLANE_SIGNING_ALG": alg}).signing_alg == alg
    for alg in ("HS256", "HS384", "HS512", "none", "rs256"):
        with pytest.raises(SettingsError, match="AUTHPLANE_SIGNING_ALG"):
            Settings(signing_alg=alg)


def _changed(name: str, value: Any) -> Any:
    """A valid value of the same type as ``value`` that differs from it."""
    special = {"region": "us", "signing_alg": "EdDSA", "public_url": "https://login.example"}
    if name in special:
        return special[name]
    if name == "broker_kind":
        return next(kind for kind in BROKER_KINDS if kind != value)
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value + 1
    if isinstance(value, Path):
        return value / "elsewhere"
    return value + "x"


def test_each_variable_to_env_writes_is_read_back_into_its_own_field() -> None:
    """Every name in the contract is read by from_env, into the field it names and no other."""
    defaults = Settings()
    names = setting_names()
    assert {"AUTHPLANE_REGION", "AUTHPLANE_KAFKA_BOOTSTRAP", "AUTHPLANE_REDIS_URL"} <= set(names)
    assert all(n.startswith(PREFIX) and n == n.upper() for n in names)
    for name, field in zip(names, Settings.model_fields, strict=True):
        changed = defaults.replace(**{field: _changed(field, getattr(defaults, field))})
        variable = {name: changed.to_env()[name]}
        assert Settings.from_env(variable) == changed, name
        assert Settings.from_env(variable) != defaults, name
    assert list(defaults.to_env()) == names


def test_only_the_exact_upper_case_names_are_read() -> None:
    assert Settings.from_env({"authplane_http_port": "1", "Authplane_Region": "us"}) == Settings()


def test_secrets_never_show_in_repr_or_str() -> None:
    settings = Settings(
        postgres_dsn="postgresql://app:hunter2-pg@db:5432/authplane",
        redis_url="redis://:hunter2-redis@cache:6379/0",
    )
    for text in (repr(settings), str(settings), f"{settings}"):
        assert "hunter2" not in text
        assert "db:5432" in text
    env = settings.to_env()
    assert "hunter2-pg" in env["AUTHPLANE_POSTGRES_DSN"]


@pytest.mark.parametrize(
    ("variable", "raw"),
    [
        ("AUTHPLANE_HTTP_PORT", "65536"),
        ("AUTHPLANE_HTTP_PORT", "-1"),
        ("AUTHPLANE_TOPIC_PARTITIONS", "0"),
        ("AUTHPLANE_SESSION_TTL_S", "0"),
        ("AUTHPLANE_ACCESS_TOKEN_TTL_S", "0"),
        ("AUTHPLANE_ARGON2_TIME_COST", "0"),
        ("AUTHPLANE_MAX_HEADER_BYTES", "20000"),
    ],
)
def test_a_value_out_of_bounds_is_refused_on_one_line(variable: str, raw: str) -> None:
    with pytest.raises(SettingsError, match=variable) as refused:
        Settings.from_env({variable: raw})
    assert "\n" not in str(refused.value)


def test_replace_validates_like_construction() -> None:
    assert Settings().replace(http_port=9000).http_port == 9000
    with pytest.raises(SettingsError, match="AUTHPLANE_REGION"):
        Settings().replace(region="eu west")


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
    argon2_threads=st.integers(min_value=0, max_value=64),
    fail_open=st.booleans(),
    broker_session_timeout_s=st.floats(min_value=0.001, max_value=600),
)


@given(SETTINGS)
def test_to_env_round_trips_through_from_env(settings: Settings) -> None:
    """The launcher hands Settings to child processes as environment; nothing may change."""
    assert Settings.from_env(settings.to_env()) == settings
