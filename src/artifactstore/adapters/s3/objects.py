"""Writing objects once, deleting every version of one, and the S3 client."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from artifactstore.adapters.s3.errors import NOT_FOUND_CODES, error_code, mapped, translate
from artifactstore.adapters.s3.presigning import MIN_PART_SIZE
from artifactstore.adapters.s3.protection import protect_key, retention_args
from artifactstore.domain.protection import Protection
from artifactstore.errors import StorageError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CopySourceTypeDef


def put_once(
    client: S3Client,
    bucket: str,
    key: str,
    body: bytes,
    content_type: str,
    protection: Protection,
    what: str,
) -> bool:
    """PutObject with ``If-None-Match: *``, locked or tagged as ``protection`` asks, in that one
    request (the object never exists unprotected); False when ``key`` is held already."""
    args = retention_args(protection)
    args.pop("TaggingDirective", None)  # a copy's argument; PutObject takes the tags as given
    try:
        client.put_object(
            Bucket=bucket, Key=key, Body=body, ContentType=content_type, IfNoneMatch="*", **args
        )
    except ClientError as exc:
        if error_code(exc) == "PreconditionFailed":
            return False
        raise translate(exc, key, what) from exc
    except BotoCoreError as exc:
        raise StorageError(f"S3 unreachable for {what} {key}: {exc}", details={"key": key}) from exc
    return True


def build_client() -> S3Client:
    """A SigV4 client; botocore itself reads ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL``."""
    import boto3
    from botocore.config import Config

    config = Config(signature_version="s3v4", retries={"mode": "standard", "max_attempts": 5})
    return boto3.session.Session().client("s3", config=config)


class ObjectLocked(Exception):
    """A version under an Object Lock that has not ended: S3 refuses to delete it."""

    def __init__(self, until: str | None) -> None:
        super().__init__(f"locked until {until}")
        self.until = until


def delete_version(client: S3Client, bucket: str, key: str, version: str) -> None:
    """Delete exactly that version (permanently: no delete marker); one already gone is a
    no-op, so a redelivered notification changes nothing."""
    with mapped(key, "upload"):
        try:
            client.delete_object(Bucket=bucket, Key=key, VersionId=version)
        except ClientError as exc:
            if error_code(exc) not in NOT_FOUND_CODES:
                raise


def delete_versions(client: S3Client, bucket: str, key: str, most: int) -> bool:
    """Delete the current version of ``key`` until none is current (at most ``most``); False
    when there was none. A version still locked is refused before the request, as S3 would
    refuse it (``ObjectLocked``). Noncurrent versions older than the current one (renewals
    leave them) go by the bucket's noncurrent-version rule within a day."""
    deleted = False
    with mapped(key, "blob"):
        for _ in range(most):
            try:
                head = client.head_object(Bucket=bucket, Key=key)
            except ClientError as exc:
                if error_code(exc) in NOT_FOUND_CODES:
                    return deleted
                raise
            until = head.get("ObjectLockRetainUntilDate")
            shown = until.isoformat() if until is not None else None
            if until is not None and until > datetime.now(UTC):
                raise ObjectLocked(shown)
            try:
                client.delete_object(
                    Bucket=bucket, Key=key, VersionId=head.get("VersionId") or "null"
                )
            except ClientError as exc:
                if error_code(exc) in ("AccessDenied", "InvalidRequest"):
                    raise ObjectLocked(shown) from exc
                raise
            deleted = True
    return deleted


def copy_once(
    client: S3Client,
    bucket: str,
    source: CopySourceTypeDef,
    target: str,
    asked: Protection,
    copy_threshold: int,
    size: int,
) -> bool:
    """Copy ``source`` (``size`` bytes) to ``target`` unless ``target`` exists (False then):
    one CopyObject with ``If-None-Match: *``, or a managed multipart copy above
    ``copy_threshold`` (``copy_large_once``)."""
    # Object Lock retention and expiry tag ride on the copy itself: the target never exists
    # unlocked, and no PutObjectRetention follows. TaggingDirective REPLACE (with no tags for
    # kept classes): reading the source version's tags would take one more permission, and
    # uploads carry none.
    args = {"TaggingDirective": "REPLACE", **retention_args(asked)}
    if size > copy_threshold:
        return copy_large_once(client, bucket, source, target, args, asked, copy_threshold)
    with mapped(source["Key"], "upload"):
        try:
            # If-None-Match: the target key is write-once even between racing writers.
            client.copy_object(
                Bucket=bucket, Key=target, CopySource=source, IfNoneMatch="*", **args
            )
        except ClientError as exc:
            if error_code(exc) != "PreconditionFailed":
                raise
            return False
    return True


def copy_large_once(
    client: S3Client,
    bucket: str,
    source: CopySourceTypeDef,
    target: str,
    args: dict[str, Any],
    asked: Protection,
    threshold: int,
) -> bool:
    """Managed multipart copy of a source above the single-copy limit to ``target``, unless
    ``target`` is held already (False)."""
    from boto3.s3.transfer import TransferConfig

    try:
        client.head_object(Bucket=bucket, Key=target)
        return False
    except ClientError as exc:
        if error_code(exc) not in NOT_FOUND_CODES:
            raise translate(exc, target, "object") from exc
    config = TransferConfig(
        multipart_threshold=threshold, multipart_chunksize=max(threshold // 8, MIN_PART_SIZE)
    )
    # Multipart completion takes no If-None-Match through the managed copy: two racing
    # promoters may both copy. Same verified bytes, so the loser only adds a version.
    with mapped(source["Key"], "upload"):
        client.copy(source, bucket, target, ExtraArgs=args, Config=config)
    # The lock rode on CreateMultipartUpload; checked again (one HEAD, nothing next to a copy
    # this size) because the local emulator ignores it there.
    if asked.retain_until is not None:
        protect_key(client, bucket, target, replace(asked, expiring=True), None)
    return True
