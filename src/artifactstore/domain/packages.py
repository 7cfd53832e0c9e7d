"""Package records as the service layer sees them: identity, state, counters, files."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar

from artifactstore.domain.digests import Digest
from artifactstore.domain.manifest import FileEntry
from artifactstore.domain.packs import PackPlace
from artifactstore.domain.protection import Protection


class PackageState(StrEnum):
    """Life of a package: draft → sealed, or draft → expired."""

    DRAFT = "draft"
    SEALED = "sealed"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class HeldBlob:
    """A verified blob a backend holds, as the catalog records it: its size (BLAKE3 bytes
    determine it), its protection (None: recorded before protections were), and the
    producers that proved possession (uploaded bytes the verifier hashed)."""

    size: int
    protection: Protection | None
    producers: frozenset[str] = frozenset()
    place: PackPlace | None = None  # in a pack; None: stored as its own object


class BlobStatus(StrEnum):
    """Where one distinct blob of a package stands."""

    PENDING = "pending"
    VERIFIED = "verified"
    REJECTED = "rejected"


@dataclass(slots=True)
class PackageRecord:
    """One package's catalog record (its files are stored apart, paged)."""

    package_id: str
    producer: str
    idempotency_key: str
    retention_class: str
    schema: str
    metadata: dict[str, Any]
    backend: str
    fingerprint: str  # the manifest digest and retention class a (producer, key) names
    file_count: int
    total_bytes: int
    blob_count: int
    created_at: datetime
    expires_at: datetime
    state: PackageState = PackageState.DRAFT
    verified_count: int = 0
    rejected_count: int = 0
    finalize_requested: bool = False
    files_complete: bool = False
    files_in_parts: bool = False
    manifest_digest: str | None = None
    sealed_at: datetime | None = None
    run_dir: str | None = None
    links: dict[str, Any] = field(default_factory=dict)
    state_hub_link: dict[str, Any] | None = None
    # When a sealed package of an expiring class expires (sealed_at + the class's expire_days).
    expiry_due: datetime | None = None
    expired_at: datetime | None = None  # when it became expired (a draft's, or a sealed one's)

    def state_at(self, now: datetime) -> PackageState:
        """Its state as of ``now``: a sealed package past its expiry is expired, whether or not
        maintenance has recorded it yet."""
        if self.state is PackageState.SEALED and self.expiry_due and self.expiry_due <= now:
            return PackageState.EXPIRED
        return self.state

    @property
    def waiting_for(self) -> int:
        """Distinct blobs not verified yet."""
        return self.blob_count - self.verified_count

    def ready_to_seal(self) -> bool:
        """Every blob verified, the client done, the file list complete, still a draft."""
        return (
            self.state is PackageState.DRAFT
            and self.finalize_requested
            and self.files_complete
            and self.rejected_count == 0
            and self.verified_count == self.blob_count
        )


@dataclass(frozen=True, slots=True)
class BlobState:
    """One distinct blob of a package and its verification status."""

    digest: Digest
    size: int
    status: BlobStatus
    seen_digest: str | None = None
    # Where the catalog keeps it, opaque to the service: a write of the state just read goes
    # straight there (its condition still checks the status) instead of looking it up again.
    slot: str | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class PackageFile:
    """A file of a package with the status of its blob."""

    entry: FileEntry
    status: BlobStatus
    seen_digest: str | None = None


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of results and the opaque cursor of the next (None at the end)."""

    items: list[T]
    next_cursor: str | None
