"""The one place ``AUTHPLANE_*`` environment variables are read.

Every process (login endpoint, projector, CLIs, launcher) builds one ``Settings`` from the
environment at start-up and passes the parts it needs down as parameters. The variable names are
the contract between the launcher (or compose file) and the processes it starts.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from schemas.broker import BROKER_KINDS, TANSU, BrokerProfile, broker_profile

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


@dataclass(frozen=True)
class Settings:
    region: str = "eu"
    kafka_bootstrap: str = "127.0.0.1:9092"
    broker_kind: str = TANSU
    redis_url: str = "redis://127.0.0.1:6379/0"
    postgres_dsn: str = "postgresql://postgres@127.0.0.1:5432/authplane"
    topic_partitions: int = 8
    topic_replication: int = 1

    http_host: str = "127.0.0.1"
    http_port: int = 8080
    issuer: str = ""
    signing_alg: str = "RS256"
    key_dir: Path = Path(".authplane/keys")
    access_token_ttl_s: int = 900
    session_ttl_s: int = 30 * 24 * 3600
    session_idle_ttl_s: int = 7 * 24 * 3600
    refresh_reuse_grace_s: float = 60.0
    session_propagation_max_s: float = 600.0
    max_body_bytes: int = 8192
    # Request line + headers of one request, and one header field (name + value), in bytes, on
    # every HTTP surface (login endpoint, projector metrics); larger heads are refused unread.
    max_request_head_bytes: int = 16384
    max_header_bytes: int = 8192
    produce_timeout_s: float = 5.0
    introspection_clients: Mapping[str, str] = field(default_factory=dict)

    key_watch_interval_s: float = 1.0
    key_retire_grace_s: int = 60

    login_max_failures: int = 5
    login_ip_max_failures: int = 50
    login_failure_window_s: int = 900
    login_lockout_s: int = 60
    login_lockout_growth: float = 2.0
    login_lockout_max_s: int = 900
    trusted_proxy_hops: int = 0

    argon2_memory_kib: int = 19456
    argon2_time_cost: int = 2
    argon2_parallelism: int = 1
    argon2_threads: int = 0

    consumer_fetch_max_wait_ms: int = 0
    projector_batch_max: int = 1000
    projector_batch_within_ms: int = 5
    broker_session_timeout_s: float = 6.0
    broker_heartbeat_interval_s: float = 1.0
    projector_metrics_port: int = 0
    max_event_skew_s: float = DEFAULT_MAX_EVENT_SKEW_S

    fail_open: bool = False
    introspection_mirror: bool = False
    """Introspection and the refresh grant's session check answer revocation from an in-process
    mirror of the region's rev:v1:* keys (proven at most 1 s stale, else Redis, Postgres, fail
    closed as before) instead of one Redis read per request. Off by default: with it, an answer
    lags a revocation Redis has applied by the keyspace notification's delivery (typically
    under 1 ms, bounded by 1 s)."""
    log_level: str = "INFO"
    stack_file: Path = Path(".authplane/stack.json")

    def __post_init__(self) -> None:
        if self.signing_alg not in SIGNING_ALGS:
            raise SettingsError(
                f"{PREFIX}SIGNING_ALG must be one of {', '.join(SIGNING_ALGS)}, "
                f"not {self.signing_alg!r}"
            )
        if not 0 < self.session_ttl_s <= MAX_SESSION_TTL_S:
            raise SettingsError(f"{PREFIX}SESSION_TTL_S must be 1..{MAX_SESSION_TTL_S} seconds")
        if not 0 < self.login_failure_window_s <= MAX_LOGIN_FAILURE_WINDOW_S:
            raise SettingsError(
                f"{PREFIX}LOGIN_FAILURE_WINDOW_S must be 1..{MAX_LOGIN_FAILURE_WINDOW_S} seconds"
            )
        if self.login_max_failures < 1 or self.login_ip_max_failures < 1:
            raise SettingsError(f"{PREFIX}LOGIN_MAX_FAILURES and _IP_MAX_FAILURES must be >= 1")
        if self.session_propagation_max_s <= 0:
            raise SettingsError(f"{PREFIX}SESSION_PROPAGATION_MAX_S must be > 0")
        if self.session_idle_ttl_s < 1 or self.refresh_reuse_grace_s < 0:
            raise SettingsError(
                f"{PREFIX}SESSION_IDLE_TTL_S must be >= 1 and {PREFIX}REFRESH_REUSE_GRACE_S >= 0"
            )
        if not 0 < self.max_event_skew_s <= MAX_LOGIN_FAILURE_WINDOW_S:
            raise SettingsError(
                f"{PREFIX}MAX_EVENT_SKEW_S must be 0..{MAX_LOGIN_FAILURE_WINDOW_S} seconds"
            )
        if self.broker_kind not in BROKER_KINDS:
            raise SettingsError(
                f"{PREFIX}BROKER_KIND must be one of {', '.join(BROKER_KINDS)}, "
                f"not {self.broker_kind!r}"
            )
        if not 0 < self.max_header_bytes <= self.max_request_head_bytes:
            raise SettingsError(
                f"{PREFIX}MAX_HEADER_BYTES must be 1..{PREFIX}MAX_REQUEST_HEAD_BYTES bytes"
            )
        if not self.region.isidentifier():
            raise SettingsError(f"{PREFIX}REGION must be a short identifier, not {self.region!r}")

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
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            name = PREFIX + f.name.upper()
            if name in env:
                values[f.name] = _parse(name, env[name], f.type)
        values.update(overrides)
        return cls(**values)

    def to_env(self) -> dict[str, str]:
        """The environment that makes ``from_env`` rebuild these settings (for child processes)."""
        out: dict[str, str] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Mapping):
                text = ",".join(f"{k}:{v}" for k, v in value.items())
            elif isinstance(value, bool):
                text = "true" if value else "false"
            else:
                text = str(value)
            out[PREFIX + f.name.upper()] = text
        return out


def setting_names() -> list[str]:
    return [PREFIX + f.name.upper() for f in fields(Settings)]


def _parse(name: str, raw: str, annotation: Any) -> Any:
    kind = str(annotation)
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind == "bool":
            return _boolean(raw)
        if kind == "Path":
            return Path(raw)
        if kind.startswith("Mapping"):
            return _pairs(raw)
    except ValueError as exc:
        raise SettingsError(f"{name}: {exc}") from None
    return raw


def _boolean(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"expected true or false, not {raw!r}")


def _pairs(raw: str) -> dict[str, str]:
    """``id:secret,id2:secret2`` (secrets may contain ``:``; ids may not)."""
    out: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        key, sep, value = item.partition(":")
        if not sep or not key or not value:
            raise ValueError("expected comma-separated id:secret pairs")
        out[key] = value
    return out
