"""The one place ``AUTHPLANE_*`` environment variables are read.

Every process (login endpoint, projector, CLIs, launcher) builds one ``Settings`` from the
environment at start-up and passes the parts it needs down as parameters. The variable names are
the contract between the launcher (or compose file) and the processes it starts.

pydantic-settings maps ``AUTHPLANE_<FIELD>`` to each field and parses it to the field's type; the
bounds are the fields' constraints; secrets are ``SecretStr`` (shown as ``**********`` in repr,
str and logs; read them with ``.get_secret_value()``) and URLs print with their password masked.
A bad value raises ``SettingsError`` with one line naming the variable.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    SecretStr,
    ValidationError,
)
from pydantic import model_validator as model_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from schemas.broker import BROKER_KINDS, TANSU, BrokerProfile, broker_profile
from schemas.client_events import SCOPE_TOKEN
from schemas.dsn import redact

PREFIX = "AUTHPLANE_"
SIGNING_ALGS = ("RS256", "ES256", "EdDSA")
MAX_SESSION_TTL_S = 366 * 24 * 3600
"""Account changes revoke the user's earlier sessions with a not-before kept this long, so no
session may live longer (the projector cannot read settings: it is a contract constant)."""
CLOCK_SKEW_S = 10
"""The bound on regions' clock errors every region assumes alike (a contract constant, so every
region decides the same): signatures accept iat/exp this far off, and a user-wide revocation kills
credentials without log evidence issued up to this long after its not-before."""
MAX_LOGIN_FAILURE_WINDOW_S = 24 * 3600
"""Projectors keep login failures this long; a longer counting window would see fewer of them."""


DEFAULT_MAX_EVENT_SKEW_S = 300.0
"""How far (s) an event's time may lie after its log timestamp before projectors refuse it."""


def default_issuer(region: str) -> str:
    """A region's token issuer (``iss``) when AUTHPLANE_ISSUER is not set."""
    return f"https://{region}.authplane.local"


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


def _one_of(choices: tuple[str, ...]) -> AfterValidator:
    def check(value: str) -> str:
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}, not {value!r}")
        return value

    return AfterValidator(check)


def _base_url(value: str) -> str:
    """ "" or an absolute http(s) URL without query or fragment, kept without a trailing "/"."""
    if not value:
        return value
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.netloc or parts.query or parts.fragment:
        raise ValueError(f"must be an http(s) URL without query or fragment, not {value!r}")
    return value.rstrip("/")


def _scope_list(value: str) -> str:
    """Space-separated RFC 6749 §3.3 scope-tokens, kept single-spaced."""
    tokens = value.split()
    bad = [token for token in tokens if not SCOPE_TOKEN.fullmatch(token)]
    if bad:
        raise ValueError(f"not RFC 6749 scope values: {bad!r}")
    return " ".join(tokens)


def _identifier(value: str) -> str:
    if not value.isidentifier():
        raise ValueError(f"must be a short identifier, not {value!r}")
    return value


def _boolean(raw: Any) -> Any:
    """The spellings the launcher and compose files use; anything else is refused."""
    if not isinstance(raw, str):
        return raw
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"expected true or false, not {raw!r}")


Flag = Annotated[bool, BeforeValidator(_boolean)]
Port = Annotated[int, Field(ge=0, le=65535)]
_URLS = frozenset({"redis_url", "postgres_dsn"})


class Settings(BaseSettings):
    """Every ``AUTHPLANE_<FIELD>`` setting of every process, with its default.

    ``Settings(**fields)`` is the defaults plus ``fields`` (the environment is not read);
    ``Settings.from_env()`` reads the environment. Both raise ``SettingsError``.
    """

    model_config = SettingsConfigDict(env_prefix=PREFIX, frozen=True, extra="forbid")

    region: Annotated[str, AfterValidator(_identifier)] = "eu"
    kafka_bootstrap: str = "127.0.0.1:9092"
    broker_kind: Annotated[str, _one_of(BROKER_KINDS)] = TANSU
    redis_url: str = "redis://127.0.0.1:6379/0"
    postgres_dsn: str = "postgresql://postgres@127.0.0.1:5432/authplane"
    topic_partitions: PositiveInt = 8
    topic_replication: PositiveInt = 1

    http_host: str = "127.0.0.1"
    http_port: Port = 8080
    issuer: str = ""
    signing_alg: Annotated[str, _one_of(SIGNING_ALGS)] = "RS256"
    key_dir: Path = Path(".authplane/keys")
    access_token_ttl_s: PositiveInt = 900
    session_ttl_s: Annotated[int, Field(gt=0, le=MAX_SESSION_TTL_S)] = 30 * 24 * 3600
    session_idle_ttl_s: PositiveInt = 7 * 24 * 3600
    refresh_reuse_grace_s: NonNegativeFloat = 60.0
    session_propagation_max_s: PositiveFloat = 600.0
    max_body_bytes: PositiveInt = 8192
    # Request line + headers of one request, and one header field (name + value), in bytes, on
    # every HTTP surface (login endpoint, projector metrics); larger heads are refused unread.
    max_request_head_bytes: PositiveInt = 16384
    max_header_bytes: PositiveInt = 8192
    produce_timeout_s: NonNegativeFloat = 5.0

    key_watch_interval_s: PositiveFloat = 1.0
    key_retire_grace_s: NonNegativeInt = 60

    login_max_failures: PositiveInt = 5
    login_ip_max_failures: PositiveInt = 50
    login_failure_window_s: Annotated[int, Field(gt=0, le=MAX_LOGIN_FAILURE_WINDOW_S)] = 900
    login_lockout_s: NonNegativeInt = 60
    login_lockout_growth: PositiveFloat = 2.0
    login_lockout_max_s: NonNegativeInt = 900
    trusted_proxy_hops: NonNegativeInt = 0

    argon2_memory_kib: Annotated[int, Field(ge=8)] = 19456
    argon2_time_cost: PositiveInt = 2
    argon2_parallelism: PositiveInt = 1
    argon2_threads: NonNegativeInt = 0

    consumer_fetch_max_wait_ms: NonNegativeInt = 0
    projector_batch_max: PositiveInt = 1000
    projector_batch_within_ms: NonNegativeInt = 5
    projector_revocation_batch_within_ms: NonNegativeFloat = 0.0
    """How long (ms) after a revocation arrives the projector waits for more revocations before
    writing them; 0 writes at once, with whatever arrived with it. Revocations have their own
    agent and write Redis (what checks read) before Postgres; they are what a check in another
    region waits for, and few next to other events, so batching them buys little. The same on
    every broker, Kafka in production included: the wait starts once the consumer has the
    records, so a broker's fetch behaviour does not change what it costs."""
    broker_session_timeout_s: PositiveFloat = 6.0
    broker_heartbeat_interval_s: PositiveFloat = 1.0
    projector_metrics_port: Port = 0
    max_event_skew_s: Annotated[float, Field(gt=0, le=MAX_LOGIN_FAILURE_WINDOW_S)] = (
        DEFAULT_MAX_EVENT_SKEW_S
    )

    # -- issue 11: the emergency login channel (services.login.outbox, services.login.relay) --
    emergency_channel: Flag = True
    """When the log does not acknowledge an event within ``produce_timeout_s``, write it to the
    region's Postgres outbox and answer; off: such requests answer 503 with Retry-After."""
    outbox_max_age_s: PositiveFloat = 900.0
    """Once the oldest pending outbox row is older than this (s), new writes are refused (503)."""
    outbox_max_rows: PositiveInt = 100_000
    """Once this many rows are pending in the outbox, new writes are refused (503)."""
    outbox_relay_interval_ms: PositiveInt = 200
    """How often (ms) the relay polls the outbox and retries the log while rows are pending."""

    fail_open: Flag = False
    introspection_mirror: Flag = False
    """Introspection and the refresh grant's session check answer revocation from an in-process
    mirror of the region's rev:v1:* keys (proven at most 1 s stale, else Redis, Postgres, fail
    closed as before) instead of one Redis read per request. Off by default: with it, an answer
    lags a revocation Redis has applied by the keyspace notification's delivery (typically
    under 1 ms, bounded by 1 s)."""
    log_level: str = "INFO"
    stack_file: Path = Path(".authplane/stack.json")

    # -- issue 12: authorization server metadata (RFC 8414) ------------------------------------
    public_url: Annotated[str, AfterValidator(_base_url)] = ""
    """The base URL clients reach this region's login endpoint at (scheme, host, optional path
    prefix, no query or fragment): the endpoints the metadata document names are under it. ""
    means the issuer (``token_issuer``), for deployments where the issuer is also the address."""
    scopes_supported: Annotated[str, AfterValidator(_scope_list)] = ""
    """Space-separated scope values the metadata document advertises (RFC 8414 §2
    ``scopes_supported``); "" leaves the member out. What a client is granted is decided by its
    registration alone: advertising a scope here grants nobody anything."""

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise SettingsError(_one_line(exc)) from None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Only the keyword arguments: the environment is read by from_env alone.
        return (init_settings,)

    @model_validator(mode="after")
    def _header_fits_in_head(self) -> Settings:
        if self.max_header_bytes > self.max_request_head_bytes:
            raise ValueError(
                f"{PREFIX}MAX_HEADER_BYTES must be 1..{PREFIX}MAX_REQUEST_HEAD_BYTES bytes"
            )
        return self

    @property
    def token_issuer(self) -> str:
        return self.issuer or default_issuer(self.region)

    @property
    def broker(self) -> BrokerProfile:
        """How clients treat the broker (``schemas.broker``)."""
        return broker_profile(self.broker_kind)

    @property
    def fetch_max_wait_ms(self) -> int:
        """Consumer fetch wait (ms): the explicit setting, else the broker profile's."""
        return self.consumer_fetch_max_wait_ms or self.broker.fetch_max_wait_ms

    @property
    def hashing_threads(self) -> int:
        return self.argon2_threads or os.cpu_count() or 1

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from ``environ`` (default ``os.environ``), then ``overrides`` on top.

        Only exactly-spelled ``AUTHPLANE_<FIELD>`` variables count. Raises ``SettingsError``.
        """
        try:
            values = _Environment(cls, os.environ if environ is None else environ)()
        except ValueError as exc:
            raise SettingsError(str(exc).splitlines()[0]) from None
        return cls(**{**values, **overrides})

    def replace(self, **changes: Any) -> Settings:
        """A copy with ``changes`` applied and validated again (raises ``SettingsError``)."""
        return type(self)(**{**{name: getattr(self, name) for name in _FIELDS}, **changes})

    def to_env(self) -> dict[str, str]:
        """The environment that makes ``from_env`` rebuild these settings (for child processes)."""
        return {_variable(name): _text(getattr(self, name)) for name in _FIELDS}

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for name, value in super().__repr_args__():
            yield name, redact(value) if name in _URLS else value


_FIELDS = tuple(Settings.model_fields)


class _Environment(EnvSettingsSource):
    """pydantic-settings' environment source over a given mapping (tests, compose files)."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(settings_cls, case_sensitive=False, env_prefix=PREFIX)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        # Case-insensitive matching over the exact upper-case names: `authplane_region` is not ours.
        return {k.lower(): v for k, v in self._environ.items() if k.startswith(PREFIX)}


def setting_names() -> list[str]:
    """Every ``AUTHPLANE_*`` variable, in field order."""
    return [_variable(name) for name in _FIELDS]


def _variable(name: str) -> str:
    return PREFIX + name.upper()


def _text(value: Any) -> str:
    if isinstance(value, Mapping):
        return ",".join(f"{k}:{_text(v)}" for k, v in value.items())
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _one_line(exc: ValidationError) -> str:
    """``AUTHPLANE_X: why`` for each refused value, on one line."""
    parts = []
    for error in exc.errors(include_url=False):
        cause = (error.get("ctx") or {}).get("error")
        why = str(cause) if cause is not None else error["msg"]
        loc = error["loc"]
        parts.append(f"{_variable(str(loc[0]))}: {why}" if loc else why)
    return "; ".join(parts)
