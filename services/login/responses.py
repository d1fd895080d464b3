"""The login endpoint's JSON answers: one serializer (orjson), the RFC 6749 §5.1 cache headers."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.responses import Response

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
"""RFC 6749 §5.1: token responses must not be cached."""


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """``body`` as ``application/json`` with ``status`` and ``headers``."""
    return Response(orjson.dumps(body), status, headers, media_type="application/json")
