"""Hypothesis strategies for envelopes of every registered event, derived from the type hints.

Shared by the codec and JSON Schema tests so that both exercise the same space of events.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

from schemas.envelope import Envelope, new_event_id
from schemas.events import REGISTRY

# orjson refuses lone surrogates, and no producer can hold them in a str it got from the network;
# the contract forbids U+0000 (schemas.codec.refuse_unstorable).
CHARS = st.characters(codec="utf-8", exclude_characters="\x00")
TEXT = st.text(alphabet=CHARS, max_size=40)
NONEMPTY_TEXT = st.text(alphabet=CHARS, min_size=1, max_size=40)
OFFSETS = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
# A day of margin keeps every offset convertible to UTC; the codec rejects the extremes anyway.
TIMESTAMPS = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=OFFSETS
)
EVENT_IDS = st.integers(min_value=0, max_value=2**48 - 1).map(new_event_id)
STORABLE_JSON: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**63 - 1) | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=8,
)
"""JSON documents an event may carry in a free-form object (a client's JWK Set)."""


def strategy_for(hint: Any) -> st.SearchStrategy[Any]:
    if hint is str:
        return TEXT
    if hint is int:
        return st.integers(min_value=-(2**63), max_value=2**63 - 1)
    if hint is bool:
        return st.booleans()
    if hint is datetime:
        return TIMESTAMPS
    if typing.get_origin(hint) is Mapping and typing.get_args(hint)[1] is Any:
        return st.dictionaries(TEXT, STORABLE_JSON, max_size=3)
    if typing.get_origin(hint) is Mapping:
        return st.dictionaries(TEXT, TEXT, max_size=5)
    if typing.get_origin(hint) is tuple and typing.get_args(hint) == (str, Ellipsis):
        return st.lists(TEXT, max_size=4).map(tuple)
    args = typing.get_args(hint)
    if type(None) in args and len(args) == 2:
        return st.none() | strategy_for(next(a for a in args if a is not type(None)))
    raise TypeError(f"no strategy for {hint!r}; extend event_samples.strategy_for")


def payloads(cls: type[Any]) -> st.SearchStrategy[Any]:
    hints = typing.get_type_hints(cls)
    fields = {f.name: strategy_for(hints[f.name]) for f in dataclasses.fields(cls)}
    return st.builds(cls, **fields)


def envelopes(cls: type[Any]) -> st.SearchStrategy[Envelope]:
    return st.builds(
        Envelope,
        event_id=EVENT_IDS,
        type=st.just(cls.TYPE),
        version=st.just(cls.VERSION),
        user_id=NONEMPTY_TEXT,
        origin_region=NONEMPTY_TEXT,
        occurred_at=TIMESTAMPS,
        correlation_id=TEXT,
        payload=payloads(cls),
    )


ANY_ENVELOPE = st.one_of([envelopes(cls) for cls in REGISTRY.values()])

JSON_VALUES: st.SearchStrategy[Any] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=12,
)
"""Anything orjson can write: the shapes a confused or hostile producer could put on the log."""
