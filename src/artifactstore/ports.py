"""Ports: the small interfaces the service layer talks to. Adapters live in ``adapters/``."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Protocol

from artifactstore.domain.bundles import BUNDLE_MAX_BYTES
from artifactstore.domain.digests import Digest
from artifactstore.domain.protection import Protection
from artifactstore.domain.retention import RetentionClass
from artifactstore.errors import InvalidInput

UPLOADS_PREFIX = "uploads/"
BUNDLES_SEGMENT = "bundles"
_BUNDLE_ID_RE = re.compile(r"[0-9a-f]{64}")


def blob_key(digest: Digest) -> str:
    """Content-addressed blob key: ``blobs/blake3/<2 hex>/<2 hex>/<64 hex>``."""
    return f"blobs/blake3/{digest.hex[:2]}/{digest.hex[2:4]}/{digest.hex}"


def manifest_key(digest: Digest) -> str:
    """Manifest key: ``manifests/blake3/<64 hex>.json``."""
    return f"manifests/blake3/{digest.hex}.json"


def upload_key(package_id: str, digest: Digest) -> str:
    """Where a client's bytes for one blob of one package land before verification."""
    return f"{UPLOADS_PREFIX}{package_id}/{digest.hex}"


def parse_upload_key(key: str) -> tuple[str, Digest] | None:
    """``(package_id, digest)`` of an upload key, or None for any other key."""
    if not key.startswith(UPLOADS_PREFIX):
        return None
    parts = key[len(UPLOADS_PREFIX) :].split("/")
    if len(parts) != 2 or not parts[0]:
        return None
    try:
        return parts[0], Digest.parse("blake3:" + parts[1])
    except ValueError:
        return None


def bundle_key(package_id: str, bundle_id: str) -> str:
    """Where a client's bundle (many small blobs' bytes, concatenated) lands before verification."""
    if not _BUNDLE_ID_RE.fullmatch(bundle_id):
        # Never a client's input: bundle ids are computed (``domain.bundles.bundle_id``).
        raise ValueError(f"not a bundle id: {bundle_id!r} (expected 64 lowercase hex)")
    return f"{UPLOADS_PREFIX}{package_id}/{BUNDLES_SEGMENT}/{bundle_id}"


def require_bundle_size(bundle_id: str, size: int) -> None:
    """Refuse a bundle target of more bytes than a bundle may carry (``bundle_too_big``, as
    ``POST /packages/{id}/bundles`` answers)."""
    if size < 0 or size > BUNDLE_MAX_BYTES:
        raise InvalidInput(
            f"bundle size {size} is outside 0..{BUNDLE_MAX_BYTES} bytes",
            code="bundle_too_big",
            details={"bundle_id": bundle_id, "size": size, "limit": BUNDLE_MAX_BYTES},
        )


def parse_bundle_key(key: str) -> tuple[str, str] | None:
    """``(package_id, bundle_id)`` of a bundle key, or None for any other key."""
    if not key.startswith(UPLOADS_PREFIX):
        return None
    parts = key[len(UPLOADS_PREFIX) :].split("/")
    if len(parts) != 3 or not parts[0] or parts[1] != BUNDLES_SEGMENT:
        return None
    if not _BUNDLE_ID_RE.fullmatch(parts[2]):
        return None
    return parts[0], parts[2]


def is_upload_key(key: str) -> bool:
    """Whether ``key`` is a pending upload's: one blob's or one bundle's."""
    return parse_upload_key(key) is not None or parse_bundle_key(key) is not None


def require_upload_key(key: str) -> None:
    """Refuse any key but a pending upload's (a blob's or a bundle's): a backend never deletes
    a blob this way."""
    if not is_upload_key(key):
        raise InvalidInput(
            f"refusing to delete {key!r}: not an upload key",
            code="not_an_upload_key",
            details={"key": key},
        )


@dataclass(frozen=True, slots=True)
class OpenUpload:
    """One version of a pending upload, open for reading; closes its stream on ``with`` exit."""

    stream: BinaryIO
    size: int
    # The store's version id (S3); None where objects have no versions (local files).
    version: str | None = None

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
    method: str = "PUT"
    url: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    upload_id: str | None = None
    parts: Sequence[UploadPart] = ()
    expires_in: int = 900

    def to_json(self) -> dict[str, Any]:
        """The wire form in API answers."""
        body: dict[str, Any] = {
            "digest": str(self.digest),
            "size": self.size,
            "method": self.method,
            "headers": dict(self.headers),
            "expires_in": self.expires_in,
        }
        if self.upload_id is None:
            body["url"] = self.url
        else:
            body["upload_id"] = self.upload_id
            body["parts"] = [
                {"part_number": p.part_number, "url": p.url, "offset": p.offset, "size": p.size}
                for p in self.parts
            ]
        return body


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

    def complete_multipart(self, key: str, upload_id: str, etags: Sequence[str]) -> None:
        """Complete a multipart upload from the parts' ETags, in part order."""
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
    ) -> Protection:
        """Make a verified upload (that ``version`` of it, ``size`` bytes, when known) the blob
        for ``digest``, then drop that upload; returns how the blob is now kept.

        Write-once: a blob already held is kept, protected at least as ``retention`` asks
        (``protect``), so a redelivered or concurrent promotion is a no-op.
        ``upload_not_found`` when neither the upload nor the blob exists.
        """
        ...

    def put_blob(self, digest: Digest, data: bytes, retention: RetentionClass) -> Protection:
        """Store verified bytes (the caller hashed ``data`` to ``digest``) as that blob; returns
        how it is now kept. Write-once: a blob already held is kept and protected as in
        ``promote``, so a redelivered or concurrent write is a no-op."""
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

    def put_manifest(self, digest: Digest, data: bytes, retention: RetentionClass) -> None:
        """Store a manifest's canonical bytes (write-once, idempotent)."""
        ...

    def get_manifest(self, digest: Digest) -> bytes:
        """A stored manifest's canonical bytes."""
        ...

    def download_url(self, digest: Digest, expires_in: int) -> str:
        """A short-lived URL that GETs the blob."""
        ...


class EventPublisher(Protocol):
    """Where domain events go (EventBridge in AWS and in the local stack)."""

    def publish(self, detail_type: str, detail: Mapping[str, Any]) -> None:
        """Put one event on the bus (source ``artifactstore``)."""
        ...


class StateHubClient(Protocol):
    """State Hub's progress endpoint."""

    def post_progress(self, event: Mapping[str, Any]) -> tuple[int, Any]:
        """POST one progress event; returns the HTTP status and State Hub's answer."""
        ...
