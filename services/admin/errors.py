"""The one exception every authctl command module raises for an operator-fixable failure."""

from __future__ import annotations


class CliError(Exception):
    """A failure the operator can act on; authctl prints it as one line and exits 1."""
