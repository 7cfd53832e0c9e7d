"""The storage port: content-addressed blobs, manifests and pending uploads."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import BinaryIO, Protocol

from artifactstore.domain.digests import Digest
from artifactstore.domain.packs import Pack
from artifactstore.domain.protection import Protection
from artifactstore.domain.retention import RetentionClass


@dataclass(frozen=True, slots=True)
class OpenUpload:
    """One version of a pending upload, open for reading; closes its stream on ``with`` exit."""

    stream: BinaryIO
    size: int
    # The store's version id (S3); None where objects have no versions (local files).
    version: str | None = None
    # For an upload pack (a large blob uploaded straight into its own pack): the package and
    # blob it was started for, as the storage recorded them when it started it; else None.
    started_for: tuple[str, Digest] | None = None
    # When this version was written, where the store tells (S3's LastModified).
    created_at: datetime | None = None

    def __enter__(self) -> OpenUpload:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stream.close()


@dataclass(frozen=True, slots=True)
class UploadPart:
    """One presigned part of a multipart upload."""

    part_number: int
    url: str
    offset: int
    size: int


@dataclass(frozen=True, slots=True)
class UploadTarget:
    """Where and how a client sends one blob's bytes, or one bundle's.

    Either a single presigned ``PUT url`` (``parts`` empty), or a multipart upload (``upload_id``
    and ``parts``) that the client completes through the API with the parts' ETags. A bundle's
    target names it ``"bundle:<bundle_id>"`` in place of a digest, and is always a single PUT.
    """

    digest: Digest | str
    size: int
    key: str
    expires_in: int  # seconds the URLs are valid
    method: str = "PUT"
    url: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    upload_id: str | None = None
    parts: Sequence[UploadPart] = ()


class BlobStorage(Protocol):
    """A storage backend: content-addressed blobs, manifests and pending uploads."""

    name: str

    def upload_target(self, package_id: str, digest: Digest, size: int) -> UploadTarget:
        """A short-lived target bound to this key and size (multipart above the threshold)."""
        ...

    def bundle_target(self, package_id: str, bundle_id: str, size: int) -> UploadTarget:
        """One short-lived PUT of a bundle's ``size`` bytes to ``bundle_key`` (never multipart)."""
        ...

    def multipart_parts(
        self, package_id: str, digest: Digest, size: int, upload_id: str
    ) -> Sequence[UploadPart]:
        """Every part of the multipart upload ``upload_id`` of that blob, as its target numbered
        them, each URL presigned when read (a page of parts presigns only what it carries)."""
        ...

    def complete_multipart(
        self, package_id: str, digest: Digest, upload_id: str, etags: Sequence[str]
    ) -> None:
        """Complete that blob's multipart upload from the parts' ETags, in part order.

        Idempotent; where the upload goes straight into its pack (``upload_pack_name``), the
        object is written once: a second upload completed for it is dropped (aborted), the
        first one stands until the verifier keeps or discards it."""
        ...

    def has_blob(self, digest: Digest) -> bool:
        """Whether the verified blob for ``digest`` is stored."""
        ...

    def upload_size(self, key: str) -> int | None:
        """Size of a pending upload, or None when there is none."""
        ...

    def open_upload(self, key: str, version: str | None = None) -> OpenUpload:
        """Open one version of a pending upload (the current one by default) for streaming."""
        ...

    def open_blob(self, digest: Digest) -> BinaryIO:
        """Stream a blob's bytes."""
        ...

    def read_range(self, key: str, start: int, end: int) -> bytes:
        """Bytes ``[start, end)`` of any stored object."""
        ...

    def promote(
        self,
        key: str,
        digest: Digest,
        retention: RetentionClass,
        version: str | None = None,
        size: int | None = None,
        now: datetime | None = None,
    ) -> Protection:
        """Make a verified upload (that ``version`` of it, ``size`` bytes, when known) the blob
        for ``digest``, then drop that upload; returns how the blob is now kept.

        Write-once: a blob already held is kept, protected at least as ``retention`` asks
        (``protect``), so a redelivered or concurrent promotion is a no-op.
        ``upload_not_found`` when neither the upload nor the blob exists.
        """
        ...

    def put_blob(
        self, digest: Digest, data: bytes, retention: RetentionClass, now: datetime | None = None
    ) -> Protection:
        """Store verified bytes (the caller hashed ``data`` to ``digest``) as that blob; returns
        how it is now kept. Write-once: a blob already held is kept and protected as in
        ``promote``, so a redelivered or concurrent write is a no-op. ``now`` (the service's
        clock; the real one when None) is when the class's promise of time starts."""
        ...

    def put_pack(
        self, pack: Pack, retention: RetentionClass, now: datetime | None = None
    ) -> Protection:
        """Store a pack of verified blobs (one write; ``pack_key``), kept as ``put_blob``
        keeps a blob. Write-once: a pack's name covers its bytes, so a pack held already holds
        these bytes, and is protected instead."""
        ...

    def protect_pack(
        self, pack: Digest, asked: Protection, known: Protection | None
    ) -> Protection | None:
        """Keep a pack at least as ``asked``, as ``protect`` keeps a blob: a pack carries the
        strongest protection any of its blobs was asked for. None when it is not stored."""
        ...

    def delete_pack(self, pack: Digest) -> bool:
        """Delete every stored version of a pack (the sweep, once none of its blobs is left);
        False when there was none; ``blob_locked`` while a lock lasts."""
        ...

    def pack_url(self, pack: Digest, expires_in: int) -> str:
        """A short-lived URL that GETs the pack; clients ask it for their blobs' byte ranges."""
        ...

    def protect(
        self, digest: Digest, asked: Protection, known: Protection | None
    ) -> Protection | None:
        """Keep a held blob at least as ``asked``, never weakening it; returns how it is now
        kept, or None when no such blob is stored.

        ``known`` is its recorded protection (None: unrecorded, so the backend reads it where
        that matters). Idempotent, and safe when several callers protect one blob at once.
        """
        ...

    def delete_upload(self, key: str, version: str | None = None) -> None:
        """Remove that version of a pending upload, or every version. Never touches blobs."""
        ...

    def discard_upload_pack(self, pack: Digest, version: str | None) -> None:
        """Delete that version of an upload pack the verifier did not record (bad bytes, or
        bytes another record holds already); one already gone is a no-op. Only the verifier
        calls this, before any lock is applied to that version."""
        ...

    def delete_blob(self, digest: Digest) -> bool:
        """Delete every stored version of a blob (only the sweep calls this, on a tombstoned
        blob); False when there was none. A lock storage enforces refuses it:
        ``Conflict`` (``blob_locked``), the blob kept as it was."""
        ...

    def put_manifest(self, digest: Digest, data: bytes, retention: RetentionClass) -> None:
        """Store a manifest's canonical bytes (write-once, idempotent)."""
        ...

    def get_manifest(self, digest: Digest) -> bytes:
        """A stored manifest's canonical bytes."""
        ...

    def download_url(self, digest: Digest, expires_in: int) -> str:
        """A short-lived URL that GETs the blob."""
        ...

    def put_attestation(self, package_id: str, data: bytes, retention: RetentionClass) -> bool:
        """Store a package's signed attestation (``attestation_key``), protected like its
        manifest. Write-once: False, nothing written, when one is stored already."""
        ...

    def get_attestation(self, package_id: str) -> bytes | None:
        """A package's stored attestation, or None while there is none."""
        ...
