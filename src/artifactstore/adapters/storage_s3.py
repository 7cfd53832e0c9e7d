"""S3 storage backend: presigned uploads, server-side promotion, Object Lock for kept classes.

The bucket must have Object Lock enabled (it implies versioning) but no *default* retention:
uploads under ``uploads/`` have to stay deletable, and only promoted blobs and manifests of a
locking retention class get a retention period. Ephemeral blobs are tagged
``retention=ephemeral`` for a bucket lifecycle rule to expire; this adapter never deletes blobs.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, BinaryIO, cast

from botocore.exceptions import BotoCoreError, ClientError

from artifactstore.domain.digests import Digest
from artifactstore.domain.retention import RetentionClass
from artifactstore.errors import ArtifactStoreError, InvalidInput, NotFound, StorageError
from artifactstore.ports import (
    UploadPart,
    UploadTarget,
    blob_key,
    manifest_key,
    require_upload_key,
    upload_key,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import (
        CompletedPartTypeDef,
        CopySourceTypeDef,
    )

MiB = 1024**2
GiB = 1024**3
MAX_PARTS = 10_000
MIN_PART_SIZE = 8 * MiB
MAX_OBJECT_SIZE = 5 * 1024**4
# CopyObject takes up to 5 GiB in one request; above that the managed copy goes multipart.
SINGLE_COPY_LIMIT = 5 * GiB
OCTET_STREAM = "application/octet-stream"
EPHEMERAL_TAGGING = "retention=ephemeral"
# HeadObject answers a bare status code, GetObject and friends a named one.
_NOT_FOUND_CODES = frozenset({"404", "NoSuchKey", "NotFound", "NoSuchUpload", "NoSuchVersion"})


def part_size_for(size: int) -> int:
    """Smallest power-of-two MiB part size (at least 8 MiB) that fits ``size`` in 10,000 parts."""
    part = MIN_PART_SIZE
    while part * MAX_PARTS < size:
        part *= 2
    return part


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _translate(exc: ClientError, key: str, what: str) -> ArtifactStoreError:
    """Our error for a refused S3 call, chosen by its error code (never by its message)."""
    code = _error_code(exc)
    details = {"key": key, "s3_error_code": code}
    if code in _NOT_FOUND_CODES:
        return NotFound(f"no such {what}: {key}", code=f"{what}_not_found", details=details)
    return StorageError(f"S3 refused {what} {key}: {code}", details=details)


@contextmanager
def _mapped(key: str, what: str = "object") -> Iterator[None]:
    """Turn boto errors raised inside the block into ours."""
    try:
        yield
    except ClientError as exc:
        raise _translate(exc, key, what) from exc
    except BotoCoreError as exc:
        raise StorageError(f"S3 unreachable for {what} {key}: {exc}", details={"key": key}) from exc


MAX_UPLOAD_VERSIONS = 16  # a client re-sending one blob; lifecycle expires any left over


class S3Storage:
    """Blobs, manifests and pending uploads in one S3 bucket, under the keys of ``ports``.

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
                    self._client = _build_client()
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
        key = upload_key(package_id, digest)
        if size > self.multipart_threshold:
            return self._multipart_target(key, digest, size)
        params = {
            "Bucket": self.bucket,
            "Key": key,
            "ContentLength": size,
            "ContentType": OCTET_STREAM,
        }
        with _mapped(key, "upload"):
            url = self.client.generate_presigned_url(
                "put_object", Params=params, ExpiresIn=self.url_ttl
            )
        return UploadTarget(
            digest=digest,
            size=size,
            key=key,
            url=url,
            # Both are signed: a client must send exactly these, or S3 refuses the PUT.
            headers={"Content-Type": OCTET_STREAM, "Content-Length": str(size)},
            expires_in=self.url_ttl,
        )

    def _multipart_target(self, key: str, digest: Digest, size: int) -> UploadTarget:
        part_size = part_size_for(size)
        with _mapped(key, "upload"):
            upload_id = self.client.create_multipart_upload(
                Bucket=self.bucket, Key=key, ContentType=OCTET_STREAM
            )["UploadId"]
            parts = []
            for index, offset in enumerate(range(0, size, part_size)):
                length = min(part_size, size - offset)
                url = self.client.generate_presigned_url(
                    "upload_part",
                    Params={
                        "Bucket": self.bucket,
                        "Key": key,
                        "UploadId": upload_id,
                        "PartNumber": index + 1,
                        "ContentLength": length,
                    },
                    ExpiresIn=self.url_ttl,
                )
                parts.append(UploadPart(index + 1, url, offset, length))
        return UploadTarget(
            digest=digest,
            size=size,
            key=key,
            upload_id=upload_id,
            parts=parts,
            headers={"Content-Type": OCTET_STREAM},
            expires_in=self.url_ttl,
        )

    def complete_multipart(self, key: str, upload_id: str, etags: Sequence[str]) -> None:
        """Complete from the parts' ETags; a retry after success is a no-op."""
        parts: list[CompletedPartTypeDef] = [
            {"ETag": etag, "PartNumber": n} for n, etag in enumerate(etags, start=1)
        ]
        try:
            self.client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
            )
        except ClientError as exc:
            code = _error_code(exc)
            if code == "NoSuchUpload" and self.upload_size(key) is not None:
                return  # completed by an earlier call whose answer was lost
            if code in {"InvalidPart", "InvalidPartOrder", "EntityTooSmall"}:
                raise InvalidInput(
                    f"multipart upload {key} cannot be completed: {code}",
                    code="invalid_multipart_parts",
                    details={"key": key, "s3_error_code": code},
                ) from exc
            raise _translate(exc, key, "upload") from exc

    def upload_size(self, key: str) -> int | None:
        """Size of a pending upload, or None."""
        return self._size(key)

    def open_upload(self, key: str) -> BinaryIO:
        """Stream a pending upload."""
        return self._open(key, "upload")

    def delete_upload(self, key: str) -> None:
        """Delete every version of a pending upload; refuses anything but an upload key."""
        require_upload_key(key)
        # The bucket is versioned (Object Lock): a plain delete would only hide the bytes, so
        # delete the current version until none is left. (No ListObjectVersions: it pages the
        # bucket's versions, and the local emulator copies the whole bucket to answer it.)
        with _mapped(key, "upload"):
            for _ in range(MAX_UPLOAD_VERSIONS):
                try:
                    head = self.client.head_object(Bucket=self.bucket, Key=key)
                except ClientError as exc:
                    if _error_code(exc) in _NOT_FOUND_CODES:
                        return
                    raise
                self.client.delete_object(
                    Bucket=self.bucket, Key=key, VersionId=head.get("VersionId") or "null"
                )

    # -- blobs -----------------------------------------------------------------------------

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
        with _mapped(key):
            answer = self.client.get_object(
                Bucket=self.bucket, Key=key, Range=f"bytes={start}-{end - 1}"
            )
            return answer["Body"].read()

    def promote(self, key: str, digest: Digest, retention: RetentionClass) -> None:
        """Server-side copy the upload to the blob key (unless there already), then drop it."""
        target = blob_key(digest)
        if not self.has_blob(digest):
            self._copy_to_blob(key, target, retention)
        # Retention is applied after the copy (and again on a retried promote), so a promoter
        # that died between the two steps never leaves an unlocked release-evidence blob.
        self._apply_retention(target, retention)
        self.delete_upload(key)

    def _apply_retention(self, key: str, retention: RetentionClass) -> None:
        """Put Object Lock retention on a blob unless it already holds at least as long."""
        if not (retention.lock_mode and retention.lock_days):
            return
        with _mapped(key, "blob"):
            head = self.client.head_object(Bucket=self.bucket, Key=key)
            if head.get("ObjectLockRetainUntilDate"):
                return
            self.client.put_object_retention(
                Bucket=self.bucket,
                Key=key,
                Retention={
                    "Mode": retention.lock_mode,
                    "RetainUntilDate": datetime.now(UTC) + timedelta(days=retention.lock_days),
                },
            )

    def _copy_to_blob(self, key: str, target: str, retention: RetentionClass) -> None:
        from boto3.s3.transfer import TransferConfig

        if self.upload_size(key) is None:
            raise NotFound(
                f"no upload at {key} to promote", code="upload_not_found", details={"key": key}
            )
        source: CopySourceTypeDef = {"Bucket": self.bucket, "Key": key}
        config = TransferConfig(
            multipart_threshold=self.copy_threshold,
            multipart_chunksize=max(self.copy_threshold // 8, MIN_PART_SIZE),
        )
        # Benign race: two promoters may both copy before either sees the blob. The bytes are
        # the same verified content, so the loser only adds an identical version.
        with _mapped(key, "upload"):
            self.client.copy(
                source, self.bucket, target, ExtraArgs=_tagging_args(retention), Config=config
            )

    def download_url(self, digest: Digest, expires_in: int) -> str:
        """A presigned GET for the blob."""
        key = blob_key(digest)
        with _mapped(key, "blob"):
            return self.client.generate_presigned_url(
                "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=expires_in
            )

    # -- manifests -------------------------------------------------------------------------

    def put_manifest(self, digest: Digest, data: bytes, retention: RetentionClass) -> None:
        """Write a manifest once (``If-None-Match: *``), locked like its package's blobs."""
        _check_manifest(digest, data)
        key = manifest_key(digest)
        args = _retention_args(retention)
        args.pop("TaggingDirective", None)
        try:
            self.client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=data,
                ContentType="application/json",
                IfNoneMatch="*",
                **args,
            )
        except ClientError as exc:
            if _error_code(exc) == "PreconditionFailed":
                return  # already written: content-addressed, so it is these very bytes
            raise _translate(exc, key, "manifest") from exc

    def get_manifest(self, digest: Digest) -> bytes:
        """A manifest's canonical bytes."""
        key = manifest_key(digest)
        with _mapped(key, "manifest"):
            return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()

    # -- helpers ---------------------------------------------------------------------------

    def _size(self, key: str) -> int | None:
        try:
            return self.client.head_object(Bucket=self.bucket, Key=key)["ContentLength"]
        except ClientError as exc:
            if _error_code(exc) in _NOT_FOUND_CODES:
                return None
            raise _translate(exc, key, "object") from exc

    def _open(self, key: str, what: str) -> BinaryIO:
        with _mapped(key, what):
            body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
        # botocore's StreamingBody is an io.IOBase with read(n); close it when done.
        return cast(BinaryIO, body)


def _retention_args(retention: RetentionClass) -> dict[str, Any]:
    """Object Lock retention for locking classes, the expiry tag for expiring ones."""
    args: dict[str, Any] = {}
    if retention.lock_mode and retention.lock_days:
        args["ObjectLockMode"] = retention.lock_mode
        args["ObjectLockRetainUntilDate"] = datetime.now(UTC) + timedelta(days=retention.lock_days)
    if retention.expire_days:
        args["Tagging"] = EPHEMERAL_TAGGING
        args["TaggingDirective"] = "REPLACE"
    return args


def _tagging_args(retention: RetentionClass) -> dict[str, Any]:
    """Copy arguments without the lock headers (``_apply_retention`` runs after the copy)."""
    return {k: v for k, v in _retention_args(retention).items() if not k.startswith("ObjectLock")}


def _check_manifest(digest: Digest, data: bytes) -> None:
    if Digest.of_bytes(data) != digest:
        raise InvalidInput(
            f"manifest bytes do not hash to {digest}",
            code="manifest_digest_mismatch",
            details={"digest": str(digest), "actual": str(Digest.of_bytes(data))},
        )


def _build_client() -> S3Client:
    """A SigV4 client; botocore itself reads ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL``."""
    import boto3
    from botocore.config import Config

    config = Config(signature_version="s3v4", retries={"mode": "standard", "max_attempts": 5})
    return boto3.session.Session().client("s3", config=config)
