"""``BlobStorage`` in memory: versioned uploads, write-once blobs and manifests, protections.

It behaves as the S3 backend does where the service can tell: every PUT of an upload key is a
new version (a client's retry, another client's bytes), ``open_upload``/``promote``/
``delete_upload`` act on one version, blobs and manifests are written once, and a blob held
already is only ever protected further (``Protection.upgraded``), never weakened, and only
``delete_blob`` removes one (refused while its lock lasts, by the storage's clock). Nothing
expires by itself (no lifecycle rule), and URLs are ``memory://`` names nobody serves: tests
put bytes with ``put_upload`` (or ``upload_part`` and ``complete_multipart``) instead.
``protect`` upgrades what is really stored, whatever the caller's ``known`` says.
"""

from __future__ import annotations

import io
import itertools
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import BinaryIO

from artifactstore.domain.digests import Digest
from artifactstore.domain.keys import (
    attestation_key,
    blob_key,
    bundle_key,
    manifest_key,
    pack_key,
    require_bundle_size,
    require_upload_key,
    upload_key,
)
from artifactstore.domain.packs import Pack
from artifactstore.domain.protection import Protection, needs_upgrade
from artifactstore.domain.retention import RetentionClass
from artifactstore.errors import Conflict, InvalidInput, NotFound
from artifactstore.ports.storage import BlobStorage, OpenUpload, UploadPart, UploadTarget

OCTET_STREAM = "application/octet-stream"


@dataclass(slots=True)
class _Multipart:
    key: str
    size: int
    parts: dict[int, tuple[str, bytes]] = field(default_factory=dict)  # number -> (etag, data)


def _upload_not_found(key: str, version: str | None) -> NotFound:
    return NotFound(
        f"no upload at {key}" + ("" if version is None else f" of version {version}"),
        code="upload_not_found",
        details={"key": key, "version": version},
    )


class InMemoryStorage:
    """A storage backend in dicts, under one lock; see the module."""

    def __init__(
        self,
        name: str = "memory",
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        multipart_threshold: int = 64 * 1024**2,
        part_size: int = 8 * 1024**2,
        url_ttl: int = 900,
    ) -> None:
        self.name = name
        self.clock = clock
        self.multipart_threshold = multipart_threshold
        self.part_size = part_size
        self.url_ttl = url_ttl
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        # Versions of each pending upload, oldest first: (version id, bytes).
        self.uploads: dict[str, list[tuple[str, bytes]]] = {}
        self.blobs: dict[str, bytes] = {}  # hex -> bytes
        self.protections: dict[str, Protection] = {}  # hex -> how the blob is kept
        self.manifests: dict[str, bytes] = {}  # hex -> canonical bytes
        self.multiparts: dict[str, _Multipart] = {}  # upload id -> parts received
        self.attestations: dict[str, bytes] = {}  # package id -> envelope
        self.deleted_blobs: list[str] = []  # hex of every blob deleted, in order
        self.packs: dict[str, bytes] = {}  # pack hex -> bytes
        self.pack_protections: dict[str, Protection] = {}  # pack hex -> how the pack is kept
        self.deleted_packs: list[str] = []  # hex of every pack deleted, in order

    # -- what clients do -----------------------------------------------------------------------

    def put_upload(self, key: str, data: bytes) -> str:
        """A client's PUT to an upload key: a new current version; returns its id."""
        require_upload_key(key)
        with self._lock:
            version = f"v{next(self._ids)}"
            self.uploads.setdefault(key, []).append((version, bytes(data)))
            return version

    def upload_part(self, upload_id: str, part_number: int, data: bytes) -> str:
        """A client's PUT of one part of a multipart upload; returns its ETag."""
        with self._lock:
            multipart = self.multiparts.get(upload_id)
            if multipart is None:
                raise _upload_not_found(upload_id, None)
            etag = f"etag-{next(self._ids)}"
            multipart.parts[part_number] = (etag, bytes(data))
            return etag

    def versions(self, key: str) -> list[str]:
        """The versions an upload key holds, oldest first."""
        with self._lock:
            return [v for v, _ in self.uploads.get(key, [])]

    # -- targets -------------------------------------------------------------------------------

    def _url(self, key: str, **query: object) -> str:
        suffix = "&".join(f"{k}={v}" for k, v in query.items())
        return f"memory://{self.name}/{key}" + (f"?{suffix}" if suffix else "")

    def _single(self, key: str, digest: Digest | str, size: int) -> UploadTarget:
        return UploadTarget(
            digest=digest,
            size=size,
            key=key,
            url=self._url(key),
            headers={"Content-Type": OCTET_STREAM, "Content-Length": str(size)},
            expires_in=self.url_ttl,
        )

    def _parts(self, key: str, upload_id: str, size: int) -> list[UploadPart]:
        return [
            UploadPart(
                number,
                self._url(key, uploadId=upload_id, partNumber=number),
                offset,
                min(self.part_size, size - offset),
            )
            for number, offset in enumerate(range(0, size, self.part_size), start=1)
        ]

    def upload_target(self, package_id: str, digest: Digest, size: int) -> UploadTarget:
        """One PUT, or a multipart upload above the threshold (as S3)."""
        key = upload_key(package_id, digest)
        if size <= self.multipart_threshold:
            return self._single(key, digest, size)
        with self._lock:
            upload_id = f"mpu-{next(self._ids)}"
            self.multiparts[upload_id] = _Multipart(key, size)
        return UploadTarget(
            digest=digest,
            size=size,
            key=key,
            upload_id=upload_id,
            parts=self._parts(key, upload_id, size),
            headers={"Content-Type": OCTET_STREAM},
            expires_in=self.url_ttl,
        )

    def bundle_target(self, package_id: str, bundle_id: str, size: int) -> UploadTarget:
        """One PUT of a bundle."""
        require_bundle_size(bundle_id, size)
        return self._single(bundle_key(package_id, bundle_id), f"bundle:{bundle_id}", size)

    def multipart_parts(
        self, package_id: str, digest: Digest, size: int, upload_id: str
    ) -> Sequence[UploadPart]:
        """The parts of that multipart upload, numbered as its target numbered them."""
        return self._parts(upload_key(package_id, digest), upload_id, size)

    def complete_multipart(
        self, package_id: str, digest: Digest, upload_id: str, etags: Sequence[str]
    ) -> None:
        """Join the parts (their ETags in part order) into a new version of the upload (this
        fake keeps multipart uploads at the blob's upload key, as S3 did before upload packs)."""
        key = upload_key(package_id, digest)
        with self._lock:
            multipart = self.multiparts.get(upload_id)
            if multipart is None or multipart.key != key:
                if self.uploads.get(key):
                    return  # completed by an earlier call whose answer was lost
                raise _upload_not_found(key, None)
            received = [multipart.parts.get(n, ("", b"")) for n in range(1, len(etags) + 1)]
            if [etag for etag, _ in received] != list(etags) or len(etags) != len(multipart.parts):
                raise InvalidInput(
                    f"multipart upload {key} cannot be completed: InvalidPart",
                    code="invalid_multipart_parts",
                    details={"key": key, "s3_error_code": "InvalidPart"},
                )
            del self.multiparts[upload_id]
            version = f"v{next(self._ids)}"
            data = b"".join(part for _, part in received)
            self.uploads.setdefault(key, []).append((version, data))

    # -- uploads -------------------------------------------------------------------------------

    def upload_size(self, key: str) -> int | None:
        """Size of the current version of a pending upload, or None."""
        with self._lock:
            versions = self.uploads.get(key)
            return len(versions[-1][1]) if versions else None

    def _version(self, key: str, version: str | None) -> tuple[str, bytes] | None:
        versions = self.uploads.get(key, [])
        if version is None:
            return versions[-1] if versions else None
        return next((found for found in versions if found[0] == version), None)

    def discard_upload_pack(self, pack: Digest, version: str | None) -> None:
        """Never called: this fake makes no upload packs."""
        raise ValueError(f"the fake storage has no upload packs (asked to discard {pack})")

    def open_upload(self, key: str, version: str | None = None) -> OpenUpload:
        """Open one version (the current one by default); ``upload_not_found`` when gone."""
        with self._lock:
            found = self._version(key, version)
        if found is None:
            raise _upload_not_found(key, version)
        return OpenUpload(io.BytesIO(found[1]), len(found[1]), found[0])

    def _delete(self, key: str, version: str | None) -> None:
        if version is None:
            self.uploads.pop(key, None)
            return
        left = [found for found in self.uploads.get(key, []) if found[0] != version]
        if left:
            self.uploads[key] = left
        else:
            self.uploads.pop(key, None)

    def delete_upload(self, key: str, version: str | None = None) -> None:
        """Remove that version of a pending upload, or every version; only upload keys."""
        require_upload_key(key)
        with self._lock:
            self._delete(key, version)

    # -- blobs ---------------------------------------------------------------------------------

    def delete_blob(self, digest: Digest) -> bool:
        """Delete a blob; a lock that has not ended refuses it (``blob_locked``), as S3 does.
        False when there was none."""
        with self._lock:
            if digest.hex not in self.blobs:
                return False
            until = self.protections[digest.hex].retain_until
            if until is not None and until > self.clock():
                raise Conflict(
                    f"blob {digest} is locked until {until.isoformat()}",
                    code="blob_locked",
                    details={"digest": str(digest), "retain_until": until.isoformat()},
                )
            del self.blobs[digest.hex]
            del self.protections[digest.hex]
            self.deleted_blobs.append(digest.hex)
            return True

    def delete_pack(self, pack: Digest) -> bool:
        """Delete a pack, refused while its lock lasts as ``delete_blob``; False when none."""
        with self._lock:
            if pack.hex not in self.packs:
                return False
            until = self.pack_protections[pack.hex].retain_until
            if until is not None and until > self.clock():
                raise Conflict(
                    f"pack {pack} is locked until {until.isoformat()}",
                    code="blob_locked",
                    details={"pack": str(pack), "retain_until": until.isoformat()},
                )
            del self.packs[pack.hex]
            del self.pack_protections[pack.hex]
            self.deleted_packs.append(pack.hex)
            return True

    def has_blob(self, digest: Digest) -> bool:
        """Whether the blob is stored."""
        with self._lock:
            return digest.hex in self.blobs

    def open_blob(self, digest: Digest) -> BinaryIO:
        """Stream a blob's bytes."""
        with self._lock:
            data = self.blobs.get(digest.hex)
        if data is None:
            raise NotFound(f"no such blob: {blob_key(digest)}", code="blob_not_found")
        return io.BytesIO(data)

    def read_range(self, key: str, start: int, end: int) -> bytes:
        """Bytes ``[start, end)`` of any object: an upload's current version, a blob, a
        manifest or an attestation."""
        with self._lock:
            found = self._version(key, None)
            objects = {blob_key(Digest(h)): b for h, b in self.blobs.items()}
            objects.update({manifest_key(Digest(h)): b for h, b in self.manifests.items()})
            objects.update({attestation_key(p): b for p, b in self.attestations.items()})
            objects.update({pack_key(Digest(h)): b for h, b in self.packs.items()})
            data = found[1] if found else objects.get(key)
        if data is None:
            raise NotFound(f"no such object: {key}", code="object_not_found")
        return data[start:end] if end > start else b""

    def _keep(
        self, hex_digest: str, asked: Protection, kept_as: dict[str, Protection] | None = None
    ) -> Protection:
        """A held blob (or pack) kept at least as ``asked``: its protection, upgraded when
        needed."""
        table = self.protections if kept_as is None else kept_as
        kept = table.get(hex_digest, Protection(True))
        if needs_upgrade(kept, asked):
            kept = kept.upgraded(asked)
            table[hex_digest] = kept
        return kept

    def promote(
        self,
        key: str,
        digest: Digest,
        retention: RetentionClass,
        version: str | None = None,
        size: int | None = None,
        now: datetime | None = None,
    ) -> Protection:
        """That version becomes the blob unless one is held (then protected), then it goes;
        the class's promise of time starts at ``now`` (the storage's clock when None)."""
        asked = Protection.asked(retention, now or self.clock())
        with self._lock:
            if digest.hex in self.blobs:
                kept = self._keep(digest.hex, asked)
            else:
                found = self._version(key, version)
                if found is None:
                    raise _upload_not_found(key, version)
                self.blobs[digest.hex] = found[1]
                self.protections[digest.hex] = kept = asked
            self._delete(key, version)
            return kept

    def put_blob(
        self, digest: Digest, data: bytes, retention: RetentionClass, now: datetime | None = None
    ) -> Protection:
        """Store verified bytes once; a blob held already is protected instead."""
        asked = Protection.asked(retention, now or self.clock())
        with self._lock:
            if digest.hex in self.blobs:
                return self._keep(digest.hex, asked)
            self.blobs[digest.hex] = bytes(data)
            self.protections[digest.hex] = asked
            return asked

    def protect(
        self, digest: Digest, asked: Protection, known: Protection | None
    ) -> Protection | None:
        """Keep a held blob at least as ``asked``; None when it is not stored."""
        with self._lock:
            if digest.hex not in self.blobs:
                return None
            return self._keep(digest.hex, asked)

    def put_pack(
        self, pack: Pack, retention: RetentionClass, now: datetime | None = None
    ) -> Protection:
        """Store a pack once; a pack held already is protected instead."""
        asked = Protection.asked(retention, now or self.clock())
        with self._lock:
            if pack.digest.hex not in self.packs:
                self.packs[pack.digest.hex] = pack.data
                self.pack_protections[pack.digest.hex] = asked
                return asked
            return self._keep(pack.digest.hex, asked, self.pack_protections)

    def protect_pack(
        self, pack: Digest, asked: Protection, known: Protection | None
    ) -> Protection | None:
        """Keep a pack at least as ``asked``; None when it is not stored."""
        with self._lock:
            if pack.hex not in self.packs:
                return None
            return self._keep(pack.hex, asked, self.pack_protections)

    def pack_url(self, pack: Digest, expires_in: int) -> str:
        """A ``memory://`` name for the pack."""
        with self._lock:
            if pack.hex not in self.packs:
                raise NotFound(f"no pack {pack}", code="blob_not_found")
        return self._url(pack_key(pack), expires_in=expires_in)

    def download_url(self, digest: Digest, expires_in: int) -> str:
        """A ``memory://`` name for the blob."""
        if not self.has_blob(digest):
            raise NotFound(f"no blob {digest}", code="blob_not_found")
        return self._url(blob_key(digest), expires_in=expires_in)

    # -- manifests -----------------------------------------------------------------------------

    def put_manifest(self, digest: Digest, data: bytes, retention: RetentionClass) -> None:
        """Store a manifest's canonical bytes (write-once, idempotent)."""
        if Digest.of_bytes(data) != digest:
            raise InvalidInput(
                f"manifest bytes do not hash to {digest}", code="manifest_digest_mismatch"
            )
        with self._lock:
            self.manifests.setdefault(digest.hex, bytes(data))

    def get_manifest(self, digest: Digest) -> bytes:
        """A stored manifest's canonical bytes."""
        with self._lock:
            data = self.manifests.get(digest.hex)
        if data is None:
            raise NotFound(f"no such manifest: {manifest_key(digest)}", code="manifest_not_found")
        return data

    # -- attestations --------------------------------------------------------------------------

    def put_attestation(self, package_id: str, data: bytes, retention: RetentionClass) -> bool:
        """Store a package's envelope once; False (nothing written) when one is stored."""
        attestation_key(package_id)  # refuses what is not a package id
        with self._lock:
            if package_id in self.attestations:
                return False
            self.attestations[package_id] = bytes(data)
            return True

    def get_attestation(self, package_id: str) -> bytes | None:
        """A package's envelope, or None while there is none."""
        with self._lock:
            return self.attestations.get(package_id)


# mypy --strict proves the fake is a whole ``BlobStorage``.
_: type[BlobStorage] = InMemoryStorage
