"""Structured JSON log lines carrying the current request id.

Only fields passed explicitly via ``extra`` are emitted; nothing in this project puts passwords,
hashes, tokens or secrets there, and the formatter never renders request bodies.
"""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar

from schemas.jsonlog import JsonFormatter

request_id_var: ContextVar[str] = ContextVar("request_id", default="")


def configure_logging(region: str, level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter({"region": region}, {"request_id": request_id_var}))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn's own access log would print URLs with query strings; ours is structured instead.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True
