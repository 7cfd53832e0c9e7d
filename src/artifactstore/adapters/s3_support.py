"""What the S3 adapter shares: limits, part sizing, error mapping, copy arguments, the client."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from artifactstore.domain.protection import Protection, lock_mode_of, needs_upgrade
from artifactstore.errors import ArtifactStoreError, NotFound, StorageError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

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
NOT_FOUND_CODES = frozenset({"404", "NoSuchKey", "NotFound", "NoSuchUpload", "NoSuchVersion"})
# A key whose current version is a delete marker (an expired blob) answers 405 to tagging and
# retention requests: the blob is gone as far as a package is concerned.
GONE_CODES = NOT_FOUND_CODES | {"405", "MethodNotAllowed"}


def part_size_for(size: int) -> int:
    """Smallest power-of-two MiB part size (at least 8 MiB) that fits ``size`` in 10,000 parts."""
    part = MIN_PART_SIZE
    while part * MAX_PARTS < size:
        part *= 2
    return part


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def translate(exc: ClientError, key: str, what: str) -> ArtifactStoreError:
    """Our error for a refused S3 call, chosen by its error code (never by its message)."""
    code = error_code(exc)
    details = {"key": key, "s3_error_code": code}
    if code in NOT_FOUND_CODES:
        return NotFound(f"no such {what}: {key}", code=f"{what}_not_found", details=details)
    return StorageError(f"S3 refused {what} {key}: {code}", details=details)


@contextmanager
def mapped(key: str, what: str = "object") -> Iterator[None]:
    """Turn boto errors raised inside the block into ours."""
    try:
        yield
    except ClientError as exc:
        raise translate(exc, key, what) from exc
    except BotoCoreError as exc:
        raise StorageError(f"S3 unreachable for {what} {key}: {exc}", details={"key": key}) from exc


def retention_args(protection: Protection) -> dict[str, Any]:
    """Object Lock retention for a locked protection, the expiry tag for an expiring one."""
    args: dict[str, Any] = {}
    if protection.lock_mode and protection.retain_until:
        args["ObjectLockMode"] = protection.lock_mode
        args["ObjectLockRetainUntilDate"] = protection.retain_until
    if protection.expiring:
        args["Tagging"] = EPHEMERAL_TAGGING
        args["TaggingDirective"] = "REPLACE"
    return args


def protect_key(
    client: S3Client, bucket: str, key: str, asked: Protection, known: Protection | None
) -> Protection | None:
    """Keep the object at ``key`` at least as ``asked`` (``BlobStorage.protect``)."""
    if not needs_upgrade(known, asked):
        return known
    if known is None:
        known = Protection(True)  # unrecorded: it may carry the expiry tag
        if asked.retain_until is not None:
            known = lock_of(client, bucket, key)
            if known is None:
                return None
    target = known.upgraded(asked)
    try:
        if known.expiring and not target.expiring:
            # The bucket's lifecycle rule expires by tag; a blob carries no other tag.
            client.delete_object_tagging(Bucket=bucket, Key=key)
        if target.retain_until != known.retain_until:
            target = _extend_lock(client, bucket, key, target, asked)
    except ClientError as exc:
        if error_code(exc) in GONE_CODES:
            return None
        raise translate(exc, key, "blob") from exc
    return target


def lock_of(client: S3Client, bucket: str, key: str) -> Protection | None:
    """The object's lock as stored (HeadObject; its tags unknown, so taken as expiring), or
    None when there is no object."""
    try:
        head = client.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if error_code(exc) in GONE_CODES:
            return None
        raise translate(exc, key, "blob") from exc
    return Protection(
        True, lock_mode_of(head.get("ObjectLockMode")), head.get("ObjectLockRetainUntilDate")
    )


def _extend_lock(
    client: S3Client, bucket: str, key: str, target: Protection, asked: Protection
) -> Protection:
    """PutObjectRetention to ``target``. S3 refuses to shorten a lock: when a concurrent
    caller (or one whose catalog record is not written yet) locked it longer, the lock found
    stands if it covers ``asked``."""
    if target.lock_mode is None or target.retain_until is None:
        return target
    try:
        client.put_object_retention(
            Bucket=bucket,
            Key=key,
            Retention={"Mode": target.lock_mode, "RetainUntilDate": target.retain_until},
        )
        return target
    except ClientError as exc:
        if error_code(exc) in GONE_CODES:
            raise
        found = lock_of(client, bucket, key)
        if found is None or not found.covers(replace(asked, expiring=True)):
            raise
        return replace(found, expiring=target.expiring)


def build_client() -> S3Client:
    """A SigV4 client; botocore itself reads ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL``."""
    import boto3
    from botocore.config import Config

    config = Config(signature_version="s3v4", retries={"mode": "standard", "max_attempts": 5})
    return boto3.session.Session().client("s3", config=config)
