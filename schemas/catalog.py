"""What a codec can read: event classes by ``(type, version)`` and the upcasters between versions.

``CURRENT`` is the catalog every process decodes with: the classes of ``schemas.events`` and its
``UPCASTERS``. A catalog is a value, so a test (or a future rollout step) can read with another
one without touching the one production uses; ``schemas.upcasters`` builds the worked example.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from schemas.events import REGISTRY, UPCASTERS, Upcaster


@dataclass(frozen=True, slots=True)
class Catalog:
    """Event classes keyed by ``(type, version)`` plus ``{(type, old): (new, upcaster)}``.

    An upcaster maps an old version's payload (a JSON object, not yet checked) to the next
    version's payload; ``upcast`` chains them until no upcaster starts at the version reached.
    """

    classes: Mapping[tuple[str, int], type[Any]]
    upcasters: Mapping[tuple[str, int], tuple[int, Upcaster]] = field(
        default_factory=lambda: MappingProxyType({})
    )

    def class_for(self, event_type: str, version: int) -> type[Any] | None:
        return self.classes.get((event_type, version))

    def latest(self, event_type: str) -> int | None:
        """The highest version of ``event_type`` this catalog has a class for; None if none."""
        versions = [v for (t, v) in self.classes if t == event_type]
        return max(versions) if versions else None

    def upcast(
        self, event_type: str, version: int, payload: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        """``(version, payload)`` after every upcaster that applies; unchanged if none does.
        Ends because ``with_upcaster`` only registers steps to a higher version."""
        while (event_type, version) in self.upcasters:
            version, upcaster = self.upcasters[(event_type, version)]
            payload = upcaster(payload)
        return version, payload

    def with_upcaster(self, new: type[Any], from_version: int, upcaster: Upcaster) -> Catalog:
        """A copy that also reads ``new`` (its ``TYPE`` and ``VERSION``) and turns records of
        ``from_version`` into it. Raises ValueError if ``new.VERSION`` is not above
        ``from_version`` or ``from_version`` already has an upcaster."""
        key = (new.TYPE, from_version)
        if from_version >= new.VERSION:
            raise ValueError(f"an upcaster must go up: {new.TYPE} v{from_version}->v{new.VERSION}")
        if key in self.upcasters:
            raise ValueError(f"{new.TYPE} v{from_version} already has an upcaster")
        classes = {**self.classes, (new.TYPE, new.VERSION): new}
        upcasters = {**self.upcasters, key: (new.VERSION, upcaster)}
        return Catalog(MappingProxyType(classes), MappingProxyType(upcasters))


CURRENT = Catalog(REGISTRY, UPCASTERS)
"""What producers write and every region reads today (it holds no upcaster yet)."""
