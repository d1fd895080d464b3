"""``python -m tests.e2e.skewed_login OFFSET``: a login endpoint whose wall clock is off, to play
a region with a wrong clock in the e2e tests. OFFSET is seconds (negative: slow), or ``@PATH``: a
file holding the seconds, read at every clock reading, so a test can set the clock as it goes.

Test-only: it sets the password grant's clock seam (``PasswordGrant.clock``) and otherwise runs
the endpoint exactly as ``python -m services.login`` does, with the same AUTHPLANE_* environment.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from schemas.settings import Settings
from services.login import __main__ as login_main
from services.login.clock import system_clock
from services.login.wiring import LoginWiring, build_wiring


def offset_reader(spec: str) -> Callable[[], float]:
    if not spec.startswith("@"):
        return lambda: float(spec)
    path = Path(spec[1:])
    return lambda: float(path.read_text() or 0) if path.exists() else 0.0


def main(spec: str) -> int:
    offset = offset_reader(spec)

    def shifted() -> datetime:
        return system_clock() + timedelta(seconds=offset())

    async def build_shifted(settings: Settings) -> LoginWiring:
        wiring = await build_wiring(settings)
        wiring.password_grant.clock = shifted
        return wiring

    # ``serve`` looks build_wiring up in its module at call time: replace it there.
    vars(login_main)["build_wiring"] = build_shifted
    return login_main.main()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
