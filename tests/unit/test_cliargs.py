"""Which command-line arguments are refused as not UTF-8, and how the refusal names them."""

from __future__ import annotations

import os

import pytest

from services.admin.cliargs import is_utf8, non_utf8_argument


def _argv(*raw: bytes) -> list[str]:
    return [os.fsdecode(arg) for arg in raw]  # what sys.argv holds on POSIX


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (_argv(b"revoke", b"user", b"alice", b"--reason", b"lost \xff"),
         "the value of --reason is not valid UTF-8 (byte 0xff at character 6)"),
        (_argv(b"revoke", b"user", b"alice", b"--reason=\xc3"),
         "the value of --reason is not valid UTF-8 (byte 0xc3 at character 10)"),
        (_argv(b"user", b"create", b"b\xe9b"),
         "argument 3 is not valid UTF-8 (byte 0xe9 at character 2)"),
        (_argv(b"--\xff"), "argument 1 is not valid UTF-8 (byte 0xff at character 3)"),
        (_argv(b"revoke", b"user", "b\u00f6b".encode(), b"--reason", "\u2603".encode()), None),
    ],
)  # fmt: skip
def test_the_first_argument_that_is_not_utf8_is_named(argv: list[str], expected: str) -> None:
    assert non_utf8_argument(argv) == expected


def test_text_from_undecodable_bytes_is_told_apart() -> None:
    assert is_utf8("caf\u00e9 \u2603")
    assert not is_utf8(b"caf\xe9".decode("utf-8", "surrogateescape"))
