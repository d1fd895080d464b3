"""The registered claims of an access token, type- and range-checked: one rule for every caller.

A valid signature says who signed a token, not that its contents are sane: an insider, a bug in a
future issuer or a stolen key can sign anything. So every claim the services read is checked here
before any of them is used (introspection answers, revocation checks, revocation events):

- ``exp``, ``iat`` (required) and ``nbf`` (optional) are RFC 7519 §2 NumericDates: JSON numbers
  (never strings or booleans), finite, between 1970 and the end of year 9999 (what the stores and
  datetime can hold);
- ``iss``, ``sub``, ``jti``, ``sid``, ``region`` (required) and ``client_id``, ``scope``
  (optional) are strings (RFC 7519 §4.1.1-4.1.3, 4.1.7; RFC 9068 §2.2; RFC 8693 §4.2-4.3) of at
  most ``MAX_CLAIM_CHARS`` characters, without control characters, and the required ones are not
  empty;
- ``aud`` (optional) is a string or an array of strings (RFC 7519 §4.1.3);
- the token is within its lifetime: ``exp`` not passed, ``iat`` and ``nbf`` not in the future,
  each with ``leeway_s`` for clock skew (RFC 7519 §4.1.4, 4.1.5).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

NUMERIC_DATES = ("exp", "iat")
OPTIONAL_NUMERIC_DATES = ("nbf",)
REQUIRED_STRINGS = ("iss", "sub", "jti", "sid", "region")
OPTIONAL_STRINGS = ("client_id", "scope")
REQUIRED_CLAIMS = (*NUMERIC_DATES, *REQUIRED_STRINGS)
MAX_NUMERIC_DATE_S = 253402300799  # 9999-12-31T23:59:59Z, the last second datetime can hold
MAX_CLAIM_CHARS = 1024
_CONTROL_CHARACTER = re.compile("[\x00-\x1f\x7f-\x9f]")
"""C0 controls, DEL and C1 controls: one regex scan (a per-character loop cost ~10 µs a token)."""


def claims_problem(claims: Mapping[str, Any], now_s: float, leeway_s: float) -> str | None:
    """Why ``claims`` (a decoded JWT payload) must be refused, or None when they are usable.

    ``now_s`` is the verifier's clock in seconds since the epoch; ``leeway_s`` the tolerated
    clock skew in seconds. The answer is a short reason for logs and metrics, never echoed to
    the token's bearer. Never raises, whatever the payload holds.
    """
    for name in NUMERIC_DATES:
        if not is_numeric_date(claims.get(name)):
            return f"{name} is missing or not a NumericDate"
    for name in OPTIONAL_NUMERIC_DATES:
        if name in claims and not is_numeric_date(claims[name]):
            return f"{name} is not a NumericDate"
    for name in REQUIRED_STRINGS:
        if not is_claim_string(claims.get(name)) or not claims[name]:
            return f"{name} is missing or not a string"
    for name in OPTIONAL_STRINGS:
        if name in claims and not is_claim_string(claims[name]):
            return f"{name} is not a string"
    if "aud" in claims and not _is_audience(claims["aud"]):
        return "aud is not a string or an array of strings"
    return _lifetime_problem(claims, now_s, leeway_s)


def is_numeric_date(value: Any) -> bool:
    """A JSON number (int or float, not bool) of seconds within 1970..9999 (RFC 7519 §2)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return math.isfinite(value) and 0 <= value <= MAX_NUMERIC_DATE_S


def is_claim_string(value: Any) -> bool:
    """A string of at most MAX_CLAIM_CHARS characters, none of them a control character."""
    if not isinstance(value, str) or len(value) > MAX_CLAIM_CHARS:
        return False
    return _CONTROL_CHARACTER.search(value) is None


def _is_audience(value: Any) -> bool:
    if isinstance(value, list):
        return all(is_claim_string(item) for item in value)
    return is_claim_string(value)


def _lifetime_problem(claims: Mapping[str, Any], now_s: float, leeway_s: float) -> str | None:
    if claims["exp"] <= now_s - leeway_s:
        return "expired"
    if claims["iat"] > now_s + leeway_s:
        return "issued in the future"
    if "nbf" in claims and claims["nbf"] > now_s + leeway_s:
        return "not yet valid"
    return None
