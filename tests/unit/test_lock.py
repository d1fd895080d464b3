"""requirements.lock (what `make install` and CI install) satisfies pyproject.toml's ranges."""

from __future__ import annotations

import re
import tomllib

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from services.devstack.apps import REPO_ROOT

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", re.M)


def _pins() -> dict[str, Version]:
    text = (REPO_ROOT / "requirements.lock").read_text()
    return {canonicalize_name(name): Version(version) for name, version in PIN.findall(text)}


def _wanted() -> list[Requirement]:
    """The base requirements and every extra the lock covers ([all] and [dev], not [bench])."""
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    listed = project["dependencies"] + [
        r for name, reqs in extras.items() if name != "bench" for r in reqs
    ]
    # `authplane[login,...]` inside an extra is a reference to the others, not a pin.
    return [r for r in map(Requirement, listed) if canonicalize_name(r.name) != "authplane"]


def test_every_dependency_and_dev_extra_is_pinned_within_its_range() -> None:
    pins = _pins()
    problems = []
    for req in _wanted():
        pinned = pins.get(canonicalize_name(req.name))
        if pinned is None:
            problems.append(f"{req.name} is not in the lock")
        elif not req.specifier.contains(pinned, prereleases=True):
            problems.append(f"{req.name}=={pinned} is outside {req.specifier}")
    assert not problems, f"run `make lock`: {problems}"


def test_every_pin_carries_a_hash() -> None:
    text = (REPO_ROOT / "requirements.lock").read_text()
    entries = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[2])
    unhashed = [e.split("==")[0] for e in entries if "==" in e and "--hash=sha256:" not in e]
    assert not unhashed
