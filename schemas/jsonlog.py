"""Structured logs for every process: one JSON object per line on stderr.

Only fields passed explicitly via ``extra=`` (plus the formatter's fixed fields and context
variables) are emitted; nothing in this project puts passwords, hashes, tokens or secrets there,
and the formatter never renders request bodies.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any

import orjson

_STANDARD_ATTRS = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys()
    | {"message", "asctime", "color_message"}
)


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", **fields, "msg", **context, **extra}`` per record.

    ``fields``: fixed fields of every line (e.g. the region); ``context``: context variables
    whose non-empty value is added under the given name (e.g. the request id). ``ts`` is UTC,
    millisecond precision, ``Z``-suffixed (RFC 3339).
    """

    def __init__(
        self,
        fields: Mapping[str, str] | None = None,
        context: Mapping[str, ContextVar[str]] | None = None,
    ) -> None:
        super().__init__()
        self._fields = dict(fields or {})
        self._context = dict(context or {})

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            **self._fields,
            "msg": record.getMessage(),
        }
        for name, var in self._context.items():
            value = var.get()
            if value:
                line[name] = value
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                line[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            line["exc_type"] = record.exc_info[0].__name__
            line["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


def logging_config(level: str) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` document: JSON lines at ``level`` on stderr (faust's
    worker applies it at start)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"level": level.upper(), "handlers": ["stderr"]},
    }
