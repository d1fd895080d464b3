"""Strict application/x-www-form-urlencoded parsing (RFC 6749 §3.2, Appendix B).

Every way a body can be wrong ends in ``OAuthError`` with a 4xx status, never another exception:
the caller maps it straight to an RFC 6749 §5.2 JSON error.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from urllib.parse import unquote_plus

from services.login.errors import OAuthError as OAuthError  # re-exported: forms raise it

FORM_MEDIA_TYPE = "application/x-www-form-urlencoded"
MAX_FIELDS = 32
# C0 controls but TAB, and DEL. One regex scan instead of a Python loop over each character: a
# token parameter is ~600 characters, and the loop was most of an introspection's form parsing.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def invalid_request(description: str) -> OAuthError:
    return OAuthError("invalid_request", description)


def too_large(limit: int) -> OAuthError:
    return OAuthError("invalid_request", f"request body exceeds {limit} bytes", status=413)


def check_declared_length(headers: Mapping[str, str], limit: int) -> None:
    declared = headers.get("content-length")
    if declared is None:
        return
    if not declared.isdigit():
        raise invalid_request("malformed Content-Length")
    if int(declared) > limit:
        raise too_large(limit)


async def read_capped(chunks: AsyncIterator[bytes], limit: int) -> bytes:
    """Read a body but stop at ``limit`` bytes, so an oversized chunked body costs no memory."""
    body = bytearray()
    async for chunk in chunks:
        body += chunk
        if len(body) > limit:
            raise too_large(limit)
    return bytes(body)


def check_media_type(content_type: str | None) -> None:
    media, _, params = (content_type or "").partition(";")
    if media.strip().lower() != FORM_MEDIA_TYPE:
        raise invalid_request(f"the body must be {FORM_MEDIA_TYPE}")
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() != "utf-8":
            raise invalid_request("the body must be UTF-8")


def parse_form(body: bytes) -> dict[str, str]:
    """Name -> value; a repeated name is an error and an empty value counts as absent."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise invalid_request("the body is not UTF-8") from None
    pairs = [p for p in text.split("&") if p]
    if len(pairs) > MAX_FIELDS:
        raise invalid_request("too many parameters")
    form: dict[str, str] = {}
    for pair in pairs:
        name, value = (_unquote(part) for part in _split_pair(pair))
        if name in form:
            raise invalid_request(f"parameter {name!r} is repeated")
        form[name] = value
    # RFC 6749 §3.2: parameters sent without a value are treated as omitted.
    return {name: value for name, value in form.items() if value}


def _split_pair(pair: str) -> tuple[str, str]:
    name, _, value = pair.partition("=")
    return name, value


def _unquote(part: str) -> str:
    try:
        value = unquote_plus(part, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        raise invalid_request("a parameter is not UTF-8 once percent-decoded") from None
    if _CONTROL.search(value):
        raise invalid_request("a parameter contains control characters")
    return value


def require(form: Mapping[str, str], name: str) -> str:
    value = form.get(name)
    if value is None:
        raise invalid_request(f"missing parameter {name!r}")
    return value
