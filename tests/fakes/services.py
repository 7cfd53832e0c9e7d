"""``Services`` wired to the in-memory fakes, with a clock the test moves."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from artifactstore.domain.retention import RetentionClass, parse_retention_classes
from artifactstore.domain.routes import BackendRoutes
from artifactstore.service.context import Services
from tests.fakes.catalog import InMemoryCatalog
from tests.fakes.events import RecordingPublisher
from tests.fakes.storage import InMemoryStorage

START = datetime(2030, 1, 1, tzinfo=UTC)
DRAFT_TTL = timedelta(hours=72)  # the setting's default (ARTIFACTSTORE_DRAFT_TTL_HOURS)


class FakeClock:
    """Aware UTC time that moves only when told to (thread-safe)."""

    def __init__(self, now: datetime = START) -> None:
        self._lock = threading.Lock()
        self._now = now

    def __call__(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta) -> datetime:
        """Move time forward by ``delta``; returns the new now."""
        with self._lock:
            self._now += delta
            return self._now

    def set(self, now: datetime) -> None:
        """Jump to ``now``."""
        with self._lock:
            self._now = now


@dataclass
class Fakes:
    """The services and the fakes behind them, for tests to drive and inspect."""

    svc: Services
    catalog: InMemoryCatalog
    storage: InMemoryStorage
    publisher: RecordingPublisher
    clock: FakeClock


def fake_services(
    *,
    catalog: InMemoryCatalog | None = None,
    backend: str = "memory",
    clock: FakeClock | None = None,
    draft_ttl: timedelta = DRAFT_TTL,
    retention_classes: Mapping[str, RetentionClass] | None = None,
) -> Fakes:
    """Services on the fakes: every package routed to one in-memory backend, the retention
    classes of the settings' default (``ARTIFACTSTORE_RETENTION_CLASSES`` unset), no State
    Hub."""
    clock = clock or FakeClock()
    storage = InMemoryStorage(backend, clock=clock)
    publisher = RecordingPublisher()
    catalog = catalog or InMemoryCatalog()
    svc = Services(
        catalog=catalog,
        storages={backend: storage},
        publisher=publisher,
        routes=BackendRoutes.parse(f"*:*={backend}", backends={backend}),
        retention_classes=retention_classes or parse_retention_classes(None),
        public_api_url="http://api.test",
        draft_ttl=draft_ttl,
        clock=clock,
    )
    return Fakes(svc, catalog, storage, publisher, clock)
