"""The catalog port: package identity, state, file lists, blob states, schemas and tokens.

Every method speaks domain values only. Every state change is conditional: a write that loses
a race says so (a False return, ``KeyTaken`` or ``StaleWrite``), never overwrites the winner.
The DynamoDB adapter (``adapters/dynamodb``) and the in-memory fake (``tests/fakes``) are held
to one contract suite (``tests/contract``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from artifactstore.domain.digests import Digest
from artifactstore.domain.lifecycle import SweepCandidate
from artifactstore.domain.manifest import FileEntry
from artifactstore.domain.packages import (
    BlobState,
    BlobStatus,
    HeldBlob,
    PackageFile,
    PackageRecord,
    Page,
)
from artifactstore.domain.packs import PackedBlob
from artifactstore.domain.protection import Protection
from artifactstore.domain.schemas import MetadataSchema, StoredSchema
from artifactstore.domain.tokens import IssuedToken
from artifactstore.errors import ArtifactStoreError, Conflict


class KeyTaken(Conflict):
    """The (producer, key) pair already names a package: the winner's id and fingerprint."""

    code = "idempotency_key_taken"

    def __init__(self, package_id: str, fingerprint: str) -> None:
        super().__init__(f"idempotency key already names package {package_id}")
        self.package_id = package_id
        self.fingerprint = fingerprint


class StaleWrite(ArtifactStoreError):
    """A conditional write kept losing races; re-read and decide again."""

    code = "stale_write"


class Busy(ArtifactStoreError):
    """The catalog throttled writes past their retry budget; the caller may retry later."""

    code = "busy"


class PackageRepository(Protocol):
    """Packages, their idempotency-key claims, the seal outbox and State Hub links."""

    def create_package(self, record: PackageRecord) -> None:
        """Claim (producer, key) and create the package at once, or raise ``KeyTaken``."""
        ...

    def create_package_replacing(self, record: PackageRecord, expired_package_id: str) -> None:
        """Point a key whose package expired (or is gone) at a new package; ``StaleWrite``
        when another request re-claimed it first."""
        ...

    def find_claim(self, producer: str, key: str) -> tuple[str, str] | None:
        """(package_id, fingerprint) named by (producer, key), if any."""
        ...

    def get_package(self, package_id: str) -> PackageRecord:
        """The package record, or NotFound (``package_not_found``)."""
        ...

    def list_packages(
        self,
        *,
        producer: str | None,
        state: str | None,
        key: str | None,
        limit: int,
        cursor: str | None,
    ) -> Page[PackageRecord]:
        """Packages newest first, by producer, state and/or key."""
        ...

    def request_finalize(self, package_id: str) -> None:
        """Record that the client is done uploading (idempotent)."""
        ...

    def seal(
        self,
        record: PackageRecord,
        manifest_digest: str,
        now: datetime,
        expiry_due: datetime | None = None,
    ) -> bool:
        """draft → sealed, once: False when another sealer won or the package moved on. A
        package of an expiring class is due to expire at ``expiry_due``."""
        ...

    def due_packages(self, now: datetime, limit: int) -> list[PackageRecord]:
        """Sealed packages whose ``expiry_due`` is before ``now``, earliest first."""
        ...

    def expire_sealed(self, package_id: str, now: datetime) -> bool:
        """sealed → expired, once its expiry is due; False when it is not (or not any more)."""
        ...

    def expire(self, package_id: str, now: datetime, abandoned_before: datetime) -> bool:
        """draft → expired; False if it sealed or expired meanwhile."""
        ...

    def expired_drafts(
        self, now: datetime, abandoned_before: datetime, limit: int = 100
    ) -> list[PackageRecord]:
        """Drafts to expire, oldest first."""
        ...

    def unpublished_seals(self, limit: int = 100) -> list[PackageRecord]:
        """Sealed packages whose seal event is not confirmed published (the outbox)."""
        ...

    def mark_published(self, package_id: str) -> None:
        """Take a package out of the outbox."""
        ...

    def record_link(self, package_id: str, link: dict[str, Any]) -> None:
        """Record the State Hub link outcome on the package (its state does not change)."""
        ...


class FileListRepository(Protocol):
    """A package's files: lists sent whole or in parts, completed once, then paged."""

    def add_files(
        self,
        package_id: str,
        files: Sequence[FileEntry],
        verified_hex: set[str] | None = None,
        expires_at: datetime | None = None,
    ) -> None:
        """Write a list sent in one go (files and distinct blobs), as a draft expiring at
        ``expires_at``."""
        ...

    def mark_files_complete(self, package_id: str) -> None:
        """Record that every file and blob of the package is written."""
        ...

    def add_list_part(
        self,
        package_id: str,
        files: Sequence[FileEntry],
        declared: int,
        stale_before: datetime,
        expires_at: datetime,
    ) -> None:
        """Keep one part of a list sent in parts (the same part twice writes the same items);
        ``file_list_too_long`` past ``declared`` files."""
        ...

    def read_list_parts(self, package_id: str) -> list[FileEntry]:
        """Every file of every part received, in no particular order (duplicates included)."""
        ...

    def delete_list_parts(self, package_id: str) -> None:
        """Drop the parts received, so a list sent again does not count twice."""
        ...

    def claim_file_list(
        self, package_id: str, writer: str, now: datetime, stale_before: datetime
    ) -> bool:
        """Become the one writer that completes the list (a claim older than
        ``stale_before`` may be taken over)."""
        ...

    def add_file_chunks(
        self, package_id: str, files: Sequence[FileEntry], expires_at: datetime
    ) -> None:
        """Write a complete list (sorted by path) of a draft expiring at ``expires_at``."""
        ...

    def add_blob_buckets(
        self,
        package_id: str,
        blobs: Mapping[str, int],
        verified_hex: set[str],
        expires_at: datetime,
    ) -> None:
        """Write the distinct blobs (hex → size); those in ``verified_hex`` start verified."""
        ...

    def finish_file_list(
        self,
        package_id: str,
        writer: str,
        *,
        blob_count: int,
        verified_count: int,
        total_bytes: int,
    ) -> bool:
        """Mark the list complete with its counters, if ``writer`` still holds the claim."""
        ...

    def release_file_list(self, package_id: str, writer: str) -> None:
        """Give up the claim (the list failed its checks); nothing else changes."""
        ...

    def keep_file_list(self, package_id: str) -> None:
        """The package is sealing: its files are kept for good (no draft expiry)."""
        ...

    def iter_files(self, package_id: str, after: str | None = None) -> Iterator[FileEntry]:
        """Every file in path order (only those after ``after``, if given)."""
        ...

    def get_file(self, package_id: str, path: str) -> FileEntry:
        """One file of a package, or NotFound (``file_not_found``)."""
        ...

    def list_files(self, package_id: str, limit: int, cursor: str | None) -> Page[PackageFile]:
        """One page of a package's files with their blob status."""
        ...


class BlobRepository(Protocol):
    """Each package's distinct blobs and their status; the blobs each backend holds."""

    def blob_states(self, package_id: str, status: BlobStatus | None = None) -> Iterator[BlobState]:
        """The package's distinct blobs in digest order, optionally in one status only."""
        ...

    def blob_states_between(self, package_id: str, first: str, last: str) -> dict[str, BlobState]:
        """The package's blobs whose digest hex lies in ``[first, last]``, by hex."""
        ...

    def unverified_blob_states(
        self, package_id: str, after: str | None, limit: int
    ) -> list[BlobState]:
        """At most ``limit`` of the package's blobs not verified (pending or rejected) whose
        digest hex sorts after ``after`` (from the first without it), in digest order; only
        the statuses from ``after`` on are read, and reading stops at ``limit``."""
        ...

    def get_blob_state(self, package_id: str, digest: Digest) -> BlobState | None:
        """One distinct blob of a package, or None when the package does not list it."""
        ...

    def set_blob_status(
        self,
        package_id: str,
        digest: Digest,
        new: BlobStatus,
        seen: str | None = None,
        expected: BlobState | None = None,
    ) -> bool:
        """Move one blob to ``new`` and adjust the package's counters at once; False when it
        already was ``new``, or is verified (a verified blob never goes back). ``expected``,
        the state the caller just read, may save a read; it is a hint, never trusted."""
        ...

    def set_blob_statuses(
        self, package_id: str, changes: Mapping[str, tuple[BlobStatus, str | None]]
    ) -> set[str]:
        """Move many blobs (hex → (new status, seen digest)); returns the hex of those moved."""
        ...

    def verified_blobs(self, backend: str, digests: Iterable[Digest]) -> set[str]:
        """Which of ``digests`` (hex) the backend holds, verified."""
        ...

    def held_blobs(self, backend: str, digests: Iterable[Digest]) -> dict[str, Protection | None]:
        """The held blobs among ``digests``: hex → recorded protection."""
        ...

    def held_records(self, backend: str, digests: Iterable[Digest]) -> dict[str, HeldBlob]:
        """The held blobs among ``digests``: hex → size, protection and producers."""
        ...

    def record_blob(
        self,
        backend: str,
        digest: Digest,
        size: int,
        package_id: str,
        now: datetime,
        protection: Protection | None = None,
        producer: str | None = None,
    ) -> bool:
        """Record a verified blob, how it is kept, and the producer whose upload proved it;
        False when the sweep is deleting it (nothing may rely on it)."""
        ...

    def record_packed_blobs(
        self,
        backend: str,
        pack: Digest,
        members: Sequence[PackedBlob],
        package_id: str,
        now: datetime,
        protection: Protection,
        producer: str,
    ) -> set[str]:
        """Record new verified blobs held in ``pack`` (each at its offset, kept as the pack
        is), each counted among the pack's live members in the same conditional write; returns
        the hex of those recorded. A member recorded already (held elsewhere, or being swept)
        is left out and changes nothing: the caller relies on the record there is."""
        ...

    def release_packed_blob(self, backend: str, pack: Digest, digest: Digest) -> bool:
        """Take a swept blob out of its pack's live members (idempotent); True when none is
        left, so the pack may be deleted."""
        ...

    def forget_pack(self, backend: str, pack: Digest) -> None:
        """Drop the record of a pack with no live member left (its bytes are deleted)."""
        ...

    def add_blob_producer(self, backend: str, digest: Digest, producer: str) -> bool:
        """Record that ``producer`` proved possession of a held blob; False when it is not
        held, or the sweep is deleting it."""
        ...

    def raise_blob_protection(self, backend: str, digest: Digest, protection: Protection) -> bool:
        """Record protection applied to a held blob, never weakening what is recorded; False
        when it is not held, or the sweep is deleting it (nothing may rely on it)."""
        ...

    def swept_blobs(self, backend: str, digests: Iterable[Digest]) -> set[str]:
        """Which of ``digests`` (hex) the sweep is deleting (tombstoned): not held, and not to
        be stored again until the sweep has forgotten them."""
        ...

    def lease_blob(self, backend: str, digest: Digest, until: datetime) -> bool:
        """Hold a blob a verifier is about to rely on until ``until`` (the sweep leaves it
        alone); True also when it is not recorded, False while the sweep is deleting it."""
        ...

    def sweepable_blobs(
        self, backend: str, before: datetime, limit: int, after: str | None = None
    ) -> list[SweepCandidate]:
        """Expiring blobs whose recorded expiry is before ``before``, oldest first (those a
        sweep tombstoned and did not finish included), from after the ``position`` of a
        candidate of an earlier page."""
        ...

    def tombstone_blob(
        self, backend: str, digest: Digest, expired_before: datetime, now: datetime
    ) -> bool:
        """Mark a blob as being deleted, if it is still expiring, expired before
        ``expired_before``, and neither locked nor leased past ``now``; False otherwise."""
        ...

    def forget_blob(self, backend: str, digest: Digest) -> None:
        """Drop a tombstoned blob's record (its bytes are deleted)."""
        ...

    def restore_blob(self, backend: str, digest: Digest, until: datetime) -> None:
        """Take a tombstone back (storage kept the blob) and look at it again after ``until``."""
        ...


class BundleRepository(Protocol):
    """Bundles asked for: which small blobs, in which byte order."""

    def put_bundle(
        self,
        package_id: str,
        bundle_id: str,
        members: Sequence[tuple[str, int]],
        draft_expires_at: datetime | None = None,
    ) -> None:
        """Record a bundle's members (hex, size) in order; the same bundle again is harmless."""
        ...

    def get_bundle(self, package_id: str, bundle_id: str) -> list[tuple[str, int]] | None:
        """The bundle's members (hex, size) in byte order, or None when never asked for."""
        ...


class SchemaRepository(Protocol):
    """Registered metadata schemas."""

    def put_schema(self, schema: MetadataSchema, now: datetime) -> tuple[bool, datetime]:
        """Register a schema: (created, created_at); the same bytes again is a no-op, other
        bytes under the slug are ``schema_conflict``."""
        ...

    def get_schema(self, slug: str) -> StoredSchema:
        """The registered schema, or NotFound (``schema_not_found``)."""
        ...

    def list_schemas(self, limit: int, cursor: str | None) -> Page[StoredSchema]:
        """Registered schemas by slug."""
        ...


class TokenRepository(Protocol):
    """Issued API tokens, by the SHA-256 of their secret (the secret is never kept)."""

    def put_token(self, token_hash: str, token: IssuedToken) -> None:
        """Store an issued token's hash and grants."""
        ...

    def find_token(self, token_hash: str) -> IssuedToken | None:
        """The token for a hash, if issued and not revoked."""
        ...

    def revoke_token(self, token_id: str) -> bool:
        """Revoke an issued token by id; False when there is none."""
        ...

    def list_tokens(self) -> list[IssuedToken]:
        """Issued tokens."""
        ...


class Catalog(
    PackageRepository,
    FileListRepository,
    BlobRepository,
    BundleRepository,
    SchemaRepository,
    TokenRepository,
    Protocol,
):
    """Everything the service keeps in the catalog."""
