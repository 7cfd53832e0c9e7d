"""The services a use case needs, built once per process from settings."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from artifactstore.domain.retention import RetentionClass
from artifactstore.domain.routes import BackendRoutes
from artifactstore.errors import ConfigurationError
from artifactstore.ports.catalog import Catalog
from artifactstore.ports.events import EventPublisher
from artifactstore.ports.signing import Signer
from artifactstore.ports.statehub import StateHubClient
from artifactstore.ports.storage import BlobStorage


def utcnow() -> datetime:
    """Aware UTC now."""
    return datetime.now(UTC)


@dataclass(slots=True)
class Services:
    """Adapters and policies, passed down as values."""

    catalog: Catalog
    storages: Mapping[str, BlobStorage]
    publisher: EventPublisher
    routes: BackendRoutes
    retention_classes: Mapping[str, RetentionClass]
    public_api_url: str
    draft_ttl: timedelta
    state_hub: StateHubClient | None = None
    default_state_hub_ids: tuple[str | None, str | None] = (None, None)
    signer: Signer | None = None  # signs seals (docs/attestations.md); None: not configured
    clock: Callable[[], datetime] = field(default=utcnow)

    def storage(self, backend: str) -> BlobStorage:
        """The named backend (configured at start)."""
        try:
            return self.storages[backend]
        except KeyError as exc:
            raise ConfigurationError(f"storage backend {backend!r} is not configured") from exc
