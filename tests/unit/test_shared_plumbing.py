"""The pieces every process shares, written once in schemas/: DSN forms, redaction, JSON logs."""

from __future__ import annotations

import logging
from contextvars import ContextVar

import orjson
import pytest

from schemas.dsn import async_url, redact
from schemas.jsonlog import JsonFormatter


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://app:s3cret@db:5432/x", "postgresql://app:***@db:5432/x"),
        ("redis://:s3cret@cache:6379/0", "redis://:***@cache:6379/0"),
        ("postgresql://app:p@ss:w@rd@db/x", "postgresql://app:***@db/x"),
        ("postgresql://postgres@127.0.0.1:5432/authplane", None),
        ("redis://127.0.0.1:6379/0", None),
    ],
)
def test_redact_masks_only_the_password(url: str, shown: str | None) -> None:
    assert redact(url) == (shown or url)
    assert "s3cret" not in redact(url)


def test_async_url_is_the_same_database_for_sqlalchemy() -> None:
    for scheme in ("postgresql", "postgres", "postgresql+asyncpg"):
        assert async_url(f"{scheme}://u@h:5/db") == "postgresql+asyncpg://u@h:5/db"
    for bad in ("mysql://root@h/db", "h:5/db"):
        with pytest.raises(ValueError, match="postgresql://"):
            async_url(bad)


def _line(formatter: JsonFormatter, **extra: object) -> dict[str, object]:
    record = logging.LogRecord(
        "authplane.test", logging.WARNING, __file__, 1, "hi %s", ("x",), None
    )
    record.__dict__.update(extra)
    parsed: dict[str, object] = orjson.loads(formatter.format(record))
    return parsed


def test_json_lines_carry_fixed_fields_context_and_extras_only() -> None:
    request_id: ContextVar[str] = ContextVar("request_id", default="")
    formatter = JsonFormatter({"region": "eu"}, {"request_id": request_id})
    line = _line(formatter, user_id="u-1", color_message="\x1b[1mhi", _private="p")
    assert line["msg"] == "hi x"
    assert line["level"] == "warning"
    assert line["region"] == "eu"
    assert line["user_id"] == "u-1"
    assert "request_id" not in line
    assert "color_message" not in line
    assert "_private" not in line
    assert str(line["ts"]).endswith("Z")
    token = request_id.set("r-9")
    try:
        assert _line(formatter)["request_id"] == "r-9"
    finally:
        request_id.reset(token)
    assert "region" not in _line(JsonFormatter())
