"""S3 storage backend: presigned uploads, server-side promotion, Object Lock for kept classes.

The bucket must have Object Lock enabled (it implies versioning) but no *default* retention:
uploads under ``uploads/`` have to stay deletable, and only promoted blobs and manifests of a
locking retention class get a retention period. Ephemeral blobs are tagged
``retention=ephemeral`` for a bucket lifecycle rule to expire; this adapter never deletes blobs.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, BinaryIO, cast

from botocore.exceptions import ClientError

from artifactstore.adapters.s3 import evidence
from artifactstore.adapters.s3.errors import NOT_FOUND_CODES, error_code, mapped, translate
from artifactstore.adapters.s3.objects import (
    ObjectLocked,
    build_client,
    copy_once,
    delete_version,
    delete_versions,
    put_once,
)
from artifactstore.adapters.s3.presigning import (
    MAX_OBJECT_SIZE,
    OCTET_STREAM,
    SINGLE_COPY_LIMIT,
    PresignedParts,
    presigned_put,
)
from artifactstore.adapters.s3.protection import protect_key
from artifactstore.adapters.s3.upload_packs import (
    complete_upload_pack,
    started_for,
    upload_pack_key,
    upload_pack_target,
)
from artifactstore.domain.digests import Digest
from artifactstore.domain.keys import (
    blob_key,
    bundle_key,
    pack_key,
    require_bundle_size,
    require_upload_key,
    upload_key,
)
from artifactstore.domain.packs import Pack
from artifactstore.domain.protection import Protection
from artifactstore.domain.retention import RetentionClass
from artifactstore.errors import Conflict, InvalidInput, NotFound
from artifactstore.ports.storage import OpenUpload, UploadPart, UploadTarget

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import (
        CopySourceTypeDef,
    )

MAX_UPLOAD_VERSIONS = 16  # a client re-sending one blob; lifecycle expires any left over


class S3Storage:
    """Blobs, manifests and pending uploads in one S3 bucket, under the keys of ``domain.keys``.

    An injected client must be configured with ``signature_version="s3v4"``: boto3 otherwise
    presigns S3 URLs with SigV2, which cannot bind Content-Length and Content-Type.
    """

    name = "s3"

    def __init__(
        self,
        bucket: str,
        *,
        client: S3Client | None = None,
        multipart_threshold: int,
        url_ttl: int,
        copy_threshold: int = SINGLE_COPY_LIMIT,
    ) -> None:
        self.bucket = bucket
        self.multipart_threshold = multipart_threshold
        self.url_ttl = url_ttl
        self.copy_threshold = copy_threshold
        self._client = client
        self._lock = threading.Lock()

    @property
    def client(self) -> S3Client:
        """The S3 client, built on first use (boto3 honours ``AWS_ENDPOINT_URL_S3``)."""
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = build_client()
        return self._client

    # -- uploads ---------------------------------------------------------------------------

    def upload_target(self, package_id: str, digest: Digest, size: int) -> UploadTarget:
        """A presigned PUT bound to key, size and type; presigned parts above the threshold."""
        if size < 0 or size > MAX_OBJECT_SIZE:
            raise InvalidInput(
                f"blob size {size} is outside 0..{MAX_OBJECT_SIZE} bytes",
                code="blob_too_large",
                details={"digest": str(digest), "size": size},
            )
        if size > self.multipart_threshold:
            # Straight into the blob's upload pack, where it stays once verified (no copy).
            return upload_pack_target(
                self.client, self.bucket, package_id, digest, size, self.url_ttl
            )
        return self._single_target(upload_key(package_id, digest), digest, size)

    def bundle_target(self, package_id: str, bundle_id: str, size: int) -> UploadTarget:
        """A presigned PUT of a bundle, bound to key, size and type like a blob's."""
        require_bundle_size(bundle_id, size)
        return self._single_target(bundle_key(package_id, bundle_id), f"bundle:{bundle_id}", size)

    def _single_target(self, key: str, digest: Digest | str, size: int) -> UploadTarget:
        return UploadTarget(
            digest=digest,
            size=size,
            key=key,
            url=presigned_put(self.client, self.bucket, key, size, self.url_ttl),
            # Both are signed: a client must send exactly these, or S3 refuses the PUT.
            headers={"Content-Type": OCTET_STREAM, "Content-Length": str(size)},
            expires_in=self.url_ttl,
        )

    def multipart_parts(
        self, package_id: str, digest: Digest, size: int, upload_id: str
    ) -> Sequence[UploadPart]:
        """The parts of a multipart upload a target started, presigned as they are read (the
        same numbering, offsets and lengths as the target's): no request to S3. A made-up
        ``upload_id`` only gives URLs that S3 refuses."""
        key = upload_pack_key(package_id, digest)
        return PresignedParts(self.client, self.bucket, key, upload_id, size, self.url_ttl)

    def complete_multipart(
        self, package_id: str, digest: Digest, upload_id: str, etags: Sequence[str]
    ) -> None:
        """Complete from the parts' ETags, once per key; a retry after success is a no-op
        (``upload_packs.complete_upload_pack``)."""
        complete_upload_pack(self.client, self.bucket, package_id, digest, upload_id, etags)

    def upload_size(self, key: str) -> int | None:
        """Size of a pending upload, or None."""
        return self._size(key)

    def open_upload(self, key: str, version: str | None = None) -> OpenUpload:
        """GET one version of a pending upload (the current one by default): one request."""
        args: dict[str, Any] = {"VersionId": version} if version else {}
        with mapped(key, "upload"):
            answer = self.client.get_object(Bucket=self.bucket, Key=key, **args)
        # botocore's StreamingBody is an io.IOBase with read(n); OpenUpload closes it.
        body = cast(BinaryIO, answer["Body"])
        return OpenUpload(
            body,
            answer["ContentLength"],
            answer.get("VersionId") or version,
            started_for(key, answer.get("Metadata") or {}),
            answer.get("LastModified"),
        )

    def discard_upload_pack(self, pack: Digest, version: str | None) -> None:
        """Delete exactly that version of an unrecorded upload pack (no lock is on it yet)."""
        if version is None:
            raise ValueError("an upload pack is discarded by its version only")
        delete_version(self.client, self.bucket, pack_key(pack), version)

    def delete_upload(self, key: str, version: str | None = None) -> None:
        """Delete that version of a pending upload, or every version; only upload keys."""
        require_upload_key(key)
        if version is not None:
            delete_version(self.client, self.bucket, key, version)
            return
        # The bucket is versioned (Object Lock): a plain delete would only hide the bytes, so
        # delete the current version until none is left. (No ListObjectVersions: it pages the
        # bucket's versions, and the local emulator copies the whole bucket to answer it.)
        with mapped(key, "upload"):
            for _ in range(MAX_UPLOAD_VERSIONS):
                try:
                    head = self.client.head_object(Bucket=self.bucket, Key=key)
                except ClientError as exc:
                    if error_code(exc) in NOT_FOUND_CODES:
                        return
                    raise
                self.client.delete_object(
                    Bucket=self.bucket, Key=key, VersionId=head.get("VersionId") or "null"
                )

    # -- blobs -----------------------------------------------------------------------------

    def delete_blob(self, digest: Digest) -> bool:
        """Delete the blob's versions, current first (``objects.delete_versions``); a version
        under an Object Lock that has not ended is refused (``blob_locked``)."""
        return self._delete_kept(blob_key(digest), f"blob {digest}", {"digest": str(digest)})

    def delete_pack(self, pack: Digest) -> bool:
        """Delete the pack's versions, as ``delete_blob`` does a blob's."""
        return self._delete_kept(pack_key(pack), f"pack {pack}", {"pack": str(pack)})

    def _delete_kept(self, key: str, what: str, details: dict[str, Any]) -> bool:
        try:
            return delete_versions(self.client, self.bucket, key, MAX_UPLOAD_VERSIONS)
        except ObjectLocked as locked:
            raise Conflict(
                f"{what} is locked{f' until {locked.until}' if locked.until else ''}",
                code="blob_locked",
                details={**details, "retain_until": locked.until},
            ) from locked

    def has_blob(self, digest: Digest) -> bool:
        """Whether the blob is stored (HeadObject)."""
        return self._size(blob_key(digest)) is not None

    def open_blob(self, digest: Digest) -> BinaryIO:
        """Stream a blob."""
        return self._open(blob_key(digest), "blob")

    def read_range(self, key: str, start: int, end: int) -> bytes:
        """Bytes ``[start, end)`` of any object."""
        if end <= start:
            return b""
        with mapped(key):
            answer = self.client.get_object(
                Bucket=self.bucket, Key=key, Range=f"bytes={start}-{end - 1}"
            )
            return answer["Body"].read()

    def promote(
        self,
        key: str,
        digest: Digest,
        retention: RetentionClass,
        version: str | None = None,
        size: int | None = None,
        now: datetime | None = None,
    ) -> Protection:
        """Server-side copy that upload version to the blob key unless held, then delete it.

        With ``version`` and ``size`` known (the verifier's GET answered both) a fresh blob
        costs two requests: CopyObject (write-once, locked and tagged in the same request) and
        DeleteObject of exactly that version.
        """
        target = blob_key(digest)
        asked = Protection.asked(retention, now or datetime.now(UTC))
        try:
            created = self._copy_to_blob(key, version, size, target, asked)
        except NotFound:
            if not self.has_blob(digest):
                raise
            created = False  # a concurrent or earlier promotion took the upload already
        kept = asked
        if not created:
            # Held already (another package's, a concurrent promoter's), kept as that one's
            # class asked: raise it to this class too. Unknown tags count as expiring.
            kept = self.protect(digest, asked, None) or Protection(True)
        self.delete_upload(key, version)
        return kept

    def put_blob(
        self, digest: Digest, data: bytes, retention: RetentionClass, now: datetime | None = None
    ) -> Protection:
        """One PutObject (write-once, locked and tagged in the same request); a blob held
        already is protected instead, as ``promote`` does."""
        return self._put_kept(blob_key(digest), data, retention, now, "blob")

    def put_pack(
        self, pack: Pack, retention: RetentionClass, now: datetime | None = None
    ) -> Protection:
        """One PutObject of the whole pack, as ``put_blob`` (its name covers its bytes: a
        retried verifier's pack is the same object, kept and protected)."""
        return self._put_kept(pack_key(pack.digest), pack.data, retention, now, "pack")

    def _put_kept(
        self, key: str, data: bytes, retention: RetentionClass, now: datetime | None, what: str
    ) -> Protection:
        asked = Protection.asked(retention, now or datetime.now(UTC))
        if put_once(self.client, self.bucket, key, data, OCTET_STREAM, asked, what):
            return asked
        return self._protect_key(key, asked, None) or Protection(True)

    def protect(
        self, digest: Digest, asked: Protection, known: Protection | None
    ) -> Protection | None:
        """Drop the expiry tag, extend the lock, or renew an expiring blob, as far as
        ``asked`` needs; nothing else.

        Requests: DeleteObjectTagging when the blob may expire and ``asked`` does not;
        PutObjectRetention when the lock must be longer; HeadObject, CopyObject of the blob
        onto itself (a managed multipart copy above ``copy_threshold``) and GetObjectTagging of
        the version copied when an expiring blob would expire too soon
        (``protection._renew``); a HeadObject first when ``known`` is None and a lock is
        asked (a lock can be extended, never shortened, so its current end must be known), or
        when an expiring class asks and the blob's expiry is not recorded (its creation date).
        """
        return self._protect_key(blob_key(digest), asked, known)

    def protect_pack(
        self, pack: Digest, asked: Protection, known: Protection | None
    ) -> Protection | None:
        """Keep a pack at least as ``asked``, with the same requests as ``protect``: a pack
        carries the strongest protection any of its blobs was asked for."""
        return self._protect_key(pack_key(pack), asked, known)

    def _protect_key(
        self, key: str, asked: Protection, known: Protection | None
    ) -> Protection | None:
        return protect_key(self.client, self.bucket, key, asked, known, self.copy_threshold)

    def _copy_to_blob(
        self,
        key: str,
        version: str | None,
        size: int | None,
        target: str,
        asked: Protection,
    ) -> bool:
        """Copy the upload to ``target``; False when ``target`` exists already."""
        source: CopySourceTypeDef = {"Bucket": self.bucket, "Key": key}
        if version:
            # That very version: a client re-sending other bytes to the key meanwhile cannot
            # slip unverified bytes into the blob.
            source["VersionId"] = version
        if size is None:
            size = self._size(key, version)
            if size is None:
                raise NotFound(
                    f"no upload at {key} to promote", code="upload_not_found", details={"key": key}
                )
        return copy_once(self.client, self.bucket, source, target, asked, self.copy_threshold, size)

    def download_url(self, digest: Digest, expires_in: int) -> str:
        """A presigned GET for the blob."""
        return self._get_url(blob_key(digest), expires_in, "blob")

    def pack_url(self, pack: Digest, expires_in: int) -> str:
        """A presigned GET for the pack (clients read their blobs' ranges of it)."""
        return self._get_url(pack_key(pack), expires_in, "pack")

    def _get_url(self, key: str, expires_in: int, what: str) -> str:
        with mapped(key, what):
            return self.client.generate_presigned_url(
                "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=expires_in
            )

    # -- manifests and attestations (``evidence``) ---------------------------------------

    def put_manifest(self, digest: Digest, data: bytes, retention: RetentionClass) -> None:
        """Write a manifest once, locked like its package's blobs but never expiring: it
        outlives an expired package, as evidence of what it held."""
        evidence.put_manifest(self.client, self.bucket, digest, data, retention)

    def get_manifest(self, digest: Digest) -> bytes:
        """A manifest's canonical bytes."""
        return evidence.get_manifest(self.client, self.bucket, digest)

    def put_attestation(self, package_id: str, data: bytes, retention: RetentionClass) -> bool:
        """Write a package's envelope once, kept like its manifest."""
        return evidence.put_attestation(self.client, self.bucket, package_id, data, retention)

    def get_attestation(self, package_id: str) -> bytes | None:
        """A package's envelope, or None while there is none."""
        return evidence.get_attestation(self.client, self.bucket, package_id)

    # -- helpers ---------------------------------------------------------------------------

    def _size(self, key: str, version: str | None = None) -> int | None:
        args: dict[str, Any] = {"VersionId": version} if version else {}
        try:
            return self.client.head_object(Bucket=self.bucket, Key=key, **args)["ContentLength"]
        except ClientError as exc:
            if error_code(exc) in NOT_FOUND_CODES:
                return None
            raise translate(exc, key, "object") from exc

    def _open(self, key: str, what: str) -> BinaryIO:
        with mapped(key, what):
            body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
        # botocore's StreamingBody is an io.IOBase with read(n); close it when done.
        return cast(BinaryIO, body)
