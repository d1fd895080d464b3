"""The console scripts ``authctl`` and ``authplane``.

Both are installed by every ``pip install authplane``, but their libraries come with the ``[cli]``
extra (the base install is the verifier library alone). Without them a command says so in one
line (exit 1) instead of ending in a traceback.
"""

from __future__ import annotations

import importlib
import sys

_HINT = "{name}: this command needs the command-line extra: pip install 'authplane[cli]' ({why})"


def _run(name: str, module: str) -> None:
    try:
        entry = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name is not None and exc.name.split(".")[0] in ("services", "schemas", "streams"):
            raise  # our own code is missing: a broken install, not a missing extra
        print(_HINT.format(name=name, why=f"no module {exc.name!r}"), file=sys.stderr)
        sys.exit(1)
    entry.main()


def authctl() -> None:
    """``authctl``: users, keys and revocations (``services.admin.authctl``)."""
    _run("authctl", "services.admin.authctl")


def authplane() -> None:
    """``authplane``: dev stack, migrations, replay and drills (``services.admin.authplane``)."""
    _run("authplane", "services.admin.authplane")
