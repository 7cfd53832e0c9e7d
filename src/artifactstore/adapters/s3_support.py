"""What the S3 adapter shares: limits, part sizing, error mapping, copy arguments, the client."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from artifactstore.domain.retention import RetentionClass
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


def retention_args(retention: RetentionClass) -> dict[str, Any]:
    """Object Lock retention for locking classes, the expiry tag for expiring ones."""
    args: dict[str, Any] = {}
    if retention.lock_mode and retention.lock_days:
        args["ObjectLockMode"] = retention.lock_mode
        args["ObjectLockRetainUntilDate"] = datetime.now(UTC) + timedelta(days=retention.lock_days)
    if retention.expire_days:
        args["Tagging"] = EPHEMERAL_TAGGING
        args["TaggingDirective"] = "REPLACE"
    return args


def build_client() -> S3Client:
    """A SigV4 client; botocore itself reads ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL``."""
    import boto3
    from botocore.config import Config

    config = Config(signature_version="s3v4", retries={"mode": "standard", "max_attempts": 5})
    return boto3.session.Session().client("s3", config=config)
