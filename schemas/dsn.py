"""Store addresses as every process spells them: the Postgres DSN forms and their redaction.

The stack file, settings and command lines carry ``postgresql://user[:password]@host:port/db``;
SQLAlchemy's async engine and Alembic need the ``postgresql+asyncpg://`` form of the same URL.
Redis and Postgres URLs may embed a password, so anything printed or logged goes through
``redact`` first.
"""

from __future__ import annotations

ASYNC_SCHEME = "postgresql+asyncpg"
_POSTGRES_SCHEMES = ("postgresql", "postgres", ASYNC_SCHEME)


def async_url(dsn: str) -> str:
    """``postgresql://user@host:port/db`` -> the SQLAlchemy asyncpg URL of the same database.

    Raises ``ValueError`` when ``dsn`` is not a ``postgresql://``/``postgres://`` URL (an
    ``postgresql+asyncpg://`` one is returned as it is).
    """
    scheme, sep, rest = dsn.partition("://")
    if not sep or scheme not in _POSTGRES_SCHEMES:
        raise ValueError("expected a postgresql://user@host:port/db DSN")
    return f"{ASYNC_SCHEME}://{rest}"


def redact(url: str) -> str:
    """``url`` fit for an error line or a log: an embedded password becomes ``***``.

    ``postgresql://app:s3cret@db:5432/x`` -> ``postgresql://app:***@db:5432/x``; a URL without a
    password is returned unchanged.
    """
    scheme, sep, rest = url.partition("://")
    creds, at, host = rest.rpartition("@")
    if not at or ":" not in creds:
        return url
    return f"{scheme}{sep}{creds.split(':', 1)[0]}:***@{host}"
