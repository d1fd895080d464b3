"""How a username becomes the user id that partitions the log.

The user id is derived from the normalised username, so a user registered concurrently in two
regions lands on one partition under one id, and every region resolves the race the same way.
"""

from __future__ import annotations

import re
import unicodedata
import uuid

USER_ID_NAMESPACE = uuid.UUID("7b0c5e4e-2f1a-4d8e-9a53-6a7f1c2d9e10")
_USERNAME = re.compile(r"[a-z0-9][a-z0-9._@+-]{0,127}")


class InvalidUsername(ValueError):
    pass


def normalize_username(raw: str) -> str:
    """The canonical username: NFKC, surrounding whitespace removed, case folded (``Bob`` and
    ``BOB`` are ``bob``). Raises ``InvalidUsername`` (with the rule, in one line) otherwise."""
    name = unicodedata.normalize("NFKC", raw).strip().casefold()
    if not _USERNAME.fullmatch(name):
        raise InvalidUsername(
            "a username is 1-128 characters of a-z, 0-9 and . _ @ + -, starting with a letter "
            "or digit (upper case is read as lower case)"
        )
    return name


def user_id_for(username: str) -> str:
    """The user id of an already normalised username."""
    return str(uuid.uuid5(USER_ID_NAMESPACE, username))


def ip_subject_id(client_ip: str) -> str:
    """The partition key of events about a client IP (``ip.unlocked``): a UUIDv5 that can never
    equal a user id (its name carries a prefix no username may contain)."""
    return str(uuid.uuid5(USER_ID_NAMESPACE, f"ip:{client_ip}"))
