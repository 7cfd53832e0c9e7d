"""An ``EventPublisher`` that records what it is given, and can be made to fail."""

from __future__ import annotations

import copy
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from artifactstore.errors import DependencyUnavailable
from artifactstore.ports.events import EventPublisher


@dataclass(frozen=True, slots=True)
class Published:
    """One event put on the bus."""

    detail_type: str
    detail: dict[str, Any]


class RecordingPublisher:
    """Keeps every event published, in order; while ``down``, publishing fails as the bus
    adapter does (``DependencyUnavailable``) and records nothing."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.events: list[Published] = []
        self.down = False
        self.failures = 0  # publishes refused while down

    def publish(self, detail_type: str, detail: Mapping[str, Any]) -> None:
        """Record one event, or fail while ``down``."""
        with self._lock:
            if self.down:
                self.failures += 1
                raise DependencyUnavailable("the event bus is down (test)")
            self.events.append(Published(detail_type, copy.deepcopy(dict(detail))))

    def of_type(self, detail_type: str) -> list[dict[str, Any]]:
        """The details of every event of one type, in order."""
        with self._lock:
            return [e.detail for e in self.events if e.detail_type == detail_type]


# mypy --strict proves the fake is an ``EventPublisher``.
_: type[EventPublisher] = RecordingPublisher
