"""``authplane db upgrade``: apply the Alembic migrations to a Postgres database."""

from __future__ import annotations

from typing import Annotated

import typer

from schemas.dsn import redact
from schemas.settings import Settings, SettingsError
from services.admin.authplane.terminal import console, fail
from services.devstack.infra import apply_migrations

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Database migrations.")


@app.command("upgrade")
def db_upgrade(
    dsn: Annotated[str | None, typer.Option(help="[default: AUTHPLANE_POSTGRES_DSN]")] = None,
) -> None:
    """Apply the Alembic migrations to a Postgres database."""
    try:
        target = dsn or Settings.from_env().postgres_dsn
        apply_migrations(target)
    except SettingsError as exc:
        raise fail(str(exc)) from None
    except (OSError, ValueError) as exc:
        raise fail(f"migrating {redact(target)} failed: {exc}") from None
    console.print(f"migrated {redact(target)}")
