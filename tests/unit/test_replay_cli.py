"""`authplane replay|checksum|verify|reseed` hand every option to the engine
(`python -m streams.replay`): both command lines offer the same options with the same defaults,
so an option added to one and not the other fails here, not in an operator's terminal."""

from __future__ import annotations

from typing import Any

import pytest
import typer

from services.admin.authplane import app as authplane_app
from streams.replay.__main__ import app as engine_app

COMMANDS = ("replay", "checksum", "verify", "reseed")
ONLY_AUTHPLANE = {"--base-dir"}  # it becomes the engine's --stack-file


def _commands(app: typer.Typer) -> dict[str, Any]:
    commands: dict[str, Any] = typer.main.get_command(app).commands  # type: ignore[attr-defined]
    return commands


def _options(app: typer.Typer, name: str) -> dict[str, object]:
    """Each option's first name and its default (a flag's is False)."""
    return {
        param.opts[0]: param.default
        for param in _commands(app)[name].params
        if param.param_type_name == "option" and param.opts[0] not in {"--help", *ONLY_AUTHPLANE}
    }


@pytest.mark.parametrize("name", COMMANDS)
def test_authplane_and_the_engine_take_the_same_options(name: str) -> None:
    assert _options(authplane_app, name) == _options(engine_app, name)


def test_the_engine_offers_exactly_the_recovery_commands() -> None:
    assert sorted(_commands(engine_app)) == sorted(COMMANDS)
