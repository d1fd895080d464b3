"""Command-line arguments must be text: bytes that are not UTF-8 are refused in one line.

Python decodes ``argv`` with the ``surrogateescape`` error handler, so an undecodable byte
becomes a lone surrogate (U+DC80..U+DCFF) that only fails later, with a traceback, when the value
is encoded for an event, a JSON document or a terminal. Both CLIs (authctl, authplane) check
every argument before parsing, so every option and argument that takes text is covered at once.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from services.admin.errors import CliError


def non_utf8_argument(argv: Sequence[str]) -> str | None:
    """A one-line description of the first argument that is not valid UTF-8, or None.

    ``argv`` are the arguments after the program name, as ``sys.argv[1:]`` holds them. The
    description names the option the value belongs to (``--reason``) when there is one, and the
    first offending byte, never the value itself (it may be a password typed in the wrong place).
    """
    for index, arg in enumerate(argv):
        offset = _first_bad_byte(arg)
        if offset is None:
            continue
        name, eq, _ = arg.partition("=")
        if arg.startswith("--") and eq and _first_bad_byte(name) is None:
            where = f"the value of {name}"
        elif (
            index > 0
            and argv[index - 1].startswith("-")
            and _first_bad_byte(argv[index - 1]) is None
        ):
            where = f"the value of {argv[index - 1]}"
        else:
            where = f"argument {index + 1}"
        bad = _escaped_byte(arg[offset])
        return f"{where} is not valid UTF-8 (byte 0x{bad:02x} at character {offset + 1})"
    return None


def stdin_text(what: str) -> str:
    """All of stdin as text; CliError naming ``what`` if its bytes are not UTF-8."""
    try:
        text = sys.stdin.read()
    except UnicodeDecodeError:  # stdin decoded strictly
        text = "\udcff"
    if not is_utf8(text):  # a C/POSIX locale decodes stdin with surrogateescape
        raise CliError(f"{what} on stdin is not valid UTF-8")
    return text


def is_utf8(text: str) -> bool:
    """False if ``text`` came from bytes that are not UTF-8 (it holds lone surrogates)."""
    return _first_bad_byte(text) is None


def _first_bad_byte(text: str) -> int | None:
    for offset, char in enumerate(text):
        if "\ud800" <= char <= "\udfff":
            return offset
    return None


def _escaped_byte(char: str) -> int:
    # surrogateescape maps byte b (0x80..0xff) to U+DC00 + b.
    code = ord(char)
    return code - 0xDC00 if 0xDC80 <= code <= 0xDCFF else code & 0xFF
