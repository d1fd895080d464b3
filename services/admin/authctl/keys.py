"""``authctl keys rotate|revoke|list``: a region's signing key replaced, a compromised key
revoked everywhere, and every published key with its status."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import orjson
import typer

from schemas import topology
from schemas.events import SigningKeyRevoked
from schemas.settings import SIGNING_ALGS, Settings, default_issuer
from services.admin import context
from services.admin.errors import CliError
from services.admin.options import AsJson, Operator, ReadRegion, Reason, StackFile
from services.admin.publish import envelope_of, produce
from services.core import keys
from services.login.rotation import published_event
from services.verifier.keystatus import KeyStatus, key_statuses

T = TypeVar("T")

app = typer.Typer(no_args_is_help=True, help="Rotate, revoke and list signing keys.")


@app.command("rotate")
def keys_rotate(
    region: Annotated[str, typer.Option("--region", help="Region whose key to rotate.")],
    key_dir: Annotated[
        Path | None,
        typer.Option(help="The region's key directory (default: <stack dir>/keys/<region>)."),
    ] = None,
    stack_file: StackFile = None,
) -> None:
    """Publish a new signing key for a region, then install it in the region's key directory.

    The region's login endpoints sign with it within AUTHPLANE_KEY_WATCH_INTERVAL_S; the old key
    keeps verifying and is retired once its tokens have expired."""
    settings, topo = context.context(stack_file)
    directory = key_dir or _key_dir(settings, stack_file, region)
    alg = _key_alg(directory, region)
    old = _checked_key(lambda: keys.load(directory, region, alg))
    new = keys.signing_key(keys.generate_private_key(alg), alg)
    # Published (acknowledged) before the file exists, so no endpoint can sign with a key the
    # log has not got.
    issuer = settings.token_issuer if settings.region == region else default_issuer(region)
    context.run(produce(topo, published_event(new, region, issuer)))
    _checked_key(lambda: keys.install(directory, region, new))
    typer.echo(f"{region}: signing key {new.kid} published and installed (replaces {old.kid})")


@app.command("revoke")
def keys_revoke(
    kid: str, reason: Reason = "", operator: Operator = None, stack_file: StackFile = None
) -> None:
    """Revoke a (compromised) signing key: every token it signed is inactive everywhere."""
    settings, topo = context.context(stack_file)
    known = {s.key.kid: s for s in _statuses(settings, topo, None)}
    if kid not in known:
        raise CliError(f"no published signing key {kid!r} (see `authctl keys list`)")
    event = SigningKeyRevoked(kid=kid, reason=reason, revoked_by=context.operator(operator))
    context.run(produce(topo, envelope_of(event, None, settings.region)))
    typer.echo(f"revoked signing key {kid} (region {known[kid].key.region})")


@app.command("list")
def keys_list(
    region: ReadRegion = None, as_json: AsJson = False, stack_file: StackFile = None
) -> None:
    """Every published signing key and whether it is active, retired or revoked."""
    settings, topo = context.context(stack_file)
    rows = [_key_row(s) for s in _statuses(settings, topo, region)]
    rows.sort(key=lambda r: (r["region"], r["published_at"]))
    if as_json:
        typer.echo(orjson.dumps(rows))
        return
    for r in rows:
        typer.echo(
            f"{r['kid']}  {r['region']:<6} {r['alg']:<6} {r['status']:<8} {r['published_at']}"
        )


def _key_row(s: KeyStatus) -> dict[str, Any]:
    status = "revoked" if s.revoked else "retired" if s.retired else "active"
    k = s.key
    return {
        "kid": k.kid,
        "region": k.region,
        "alg": k.alg,
        "status": status,
        "published_at": k.published_at,
    }


def _key_dir(settings: Settings, stack_file: Path | None, region: str) -> Path:
    # The dev launcher keeps each region's keys under the stack file's directory.
    launched = (stack_file or settings.stack_file).parent / "keys" / region
    return launched if launched.is_dir() else settings.key_dir


def _key_alg(directory: Path, region: str) -> str:
    for alg in SIGNING_ALGS:
        if keys.key_path(directory, region, alg).exists():
            return alg
    raise CliError(
        f"no signing key of region {region} in {directory} "
        "(start its login endpoint first, or pass --key-dir)"
    )


def _checked_key(action: Callable[[], T]) -> T:
    try:
        return action()
    except keys.KeyFileError as exc:
        raise CliError(str(exc)) from None


def _statuses(settings: Settings, topo: topology.Topology, region: str | None) -> list[KeyStatus]:
    stores = context.region(topo, region or settings.region)
    return context.read_region(stores, key_statuses)
