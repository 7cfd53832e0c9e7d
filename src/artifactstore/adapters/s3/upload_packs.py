"""Large blobs uploaded straight into their own pack object, verified where they lie.

Above the multipart threshold a blob's multipart upload is started at its upload pack's key
(``domain/packs.upload_pack_name``), so the verifier hashes the very object that stays: no
copy, no second full write of the bytes (``docs/architecture.md``, "Large files"). Safe
because:

- only this service completes a multipart upload (the client gets part URLs only), and it
  completes with ``If-None-Match: *``: the key is written once, and a second upload for it
  is aborted;
- the upload is started with the ``retention=ephemeral`` tag, so the bucket's lifecycle
  ages out one the verifier never records; the verifier drops the tag, or locks it, only
  after hashing it;
- no reader finds it before the catalog records it (a pack's URL is presigned for recorded
  blobs only), and bad bytes are deleted by version, before any lock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from artifactstore.adapters.s3.errors import NOT_FOUND_CODES, error_code, mapped, translate
from artifactstore.adapters.s3.presigning import OCTET_STREAM, PresignedParts
from artifactstore.adapters.s3.protection import EPHEMERAL_TAGGING
from artifactstore.domain.digests import Digest
from artifactstore.domain.keys import pack_key
from artifactstore.domain.packs import upload_pack_name
from artifactstore.errors import InvalidInput
from artifactstore.ports.storage import UploadTarget

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

# User metadata set when the upload starts (S3 answers user metadata keys in lower case).
PACKAGE_META = "artifactstore-package"
DIGEST_META = "artifactstore-digest"


def upload_pack_key(package_id: str, digest: Digest) -> str:
    """Where that package's upload of that large blob goes, and stays once verified."""
    return pack_key(upload_pack_name(package_id, digest))


def start_upload_pack(
    client: S3Client, bucket: str, package_id: str, digest: Digest, size: int, ttl: int
) -> tuple[str, str, PresignedParts]:
    """Start the multipart upload into the blob's upload pack: (key, upload id, its parts)."""
    key = upload_pack_key(package_id, digest)
    with mapped(key, "upload"):
        upload_id = client.create_multipart_upload(
            Bucket=bucket,
            Key=key,
            ContentType=OCTET_STREAM,
            Metadata={PACKAGE_META: package_id, DIGEST_META: digest.hex},
            Tagging=EPHEMERAL_TAGGING,
        )["UploadId"]
    return key, upload_id, PresignedParts(client, bucket, key, upload_id, size, ttl)


def complete_once(
    client: S3Client, bucket: str, key: str, upload_id: str, parts: Sequence[CompletedPartTypeDef]
) -> bool:
    """Complete the upload unless the key holds an object already (``If-None-Match: *``);
    then abort it instead. Whether this call wrote the object."""
    try:
        client.complete_multipart_upload(
            Bucket=bucket,
            Key=key,
            UploadId=upload_id,
            MultipartUpload={"Parts": list(parts)},
            IfNoneMatch="*",
        )
    except ClientError as exc:
        if error_code(exc) != "PreconditionFailed":
            raise
    else:
        return True
    # Another upload of this blob for this package was completed first (two targets asked
    # for it): that one stands, verified or discarded by the verifier; this one is dropped.
    try:
        client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
    except ClientError as exc:
        if error_code(exc) not in NOT_FOUND_CODES:
            raise
    return False


def upload_pack_target(
    client: S3Client, bucket: str, package_id: str, digest: Digest, size: int, ttl: int
) -> UploadTarget:
    """The multipart target of a blob above the threshold: its upload pack, started."""
    key, upload_id, parts = start_upload_pack(client, bucket, package_id, digest, size, ttl)
    return UploadTarget(
        digest=digest,
        size=size,
        key=key,
        upload_id=upload_id,
        parts=parts,
        headers={"Content-Type": OCTET_STREAM},
        expires_in=ttl,
    )


def complete_upload_pack(
    client: S3Client,
    bucket: str,
    package_id: str,
    digest: Digest,
    upload_id: str,
    etags: Sequence[str],
) -> None:
    """Complete from the parts' ETags (``complete_once``); a retry after success is a no-op,
    parts S3 refuses are ``invalid_multipart_parts``."""
    key = upload_pack_key(package_id, digest)
    parts: list[CompletedPartTypeDef] = [
        {"ETag": etag, "PartNumber": n} for n, etag in enumerate(etags, start=1)
    ]
    try:
        complete_once(client, bucket, key, upload_id, parts)
    except ClientError as exc:
        code = error_code(exc)
        if code == "NoSuchUpload" and _exists(client, bucket, key):
            return  # completed by an earlier call whose answer was lost
        if code in {"InvalidPart", "InvalidPartOrder", "EntityTooSmall"}:
            raise InvalidInput(
                f"multipart upload {key} cannot be completed: {code}",
                code="invalid_multipart_parts",
                details={"key": key, "s3_error_code": code},
            ) from exc
        raise translate(exc, key, "upload") from exc


def _exists(client: S3Client, bucket: str, key: str) -> bool:
    try:
        client.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if error_code(exc) in NOT_FOUND_CODES:
            return False
        raise translate(exc, key, "object") from exc
    return True


def started_for(key: str, metadata: Mapping[str, str]) -> tuple[str, Digest] | None:
    """(package id, digest) an upload pack at ``key`` was started for, from its metadata;
    None for any other object (a bundle's pack, a renewal copy without that metadata)."""
    package_id = metadata.get(PACKAGE_META)
    hex_digest = metadata.get(DIGEST_META)
    if not package_id or not hex_digest:
        return None
    try:
        digest = Digest.parse(f"blake3:{hex_digest}")
    except InvalidInput:
        return None
    if upload_pack_key(package_id, digest) != key:
        return None
    return package_id, digest
