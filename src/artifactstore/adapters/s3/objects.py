"""Writing objects once, and the S3 client."""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from artifactstore.adapters.s3.errors import (
    error_code,
    translate,
)
from artifactstore.adapters.s3.protection import retention_args
from artifactstore.domain.protection import Protection
from artifactstore.errors import StorageError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


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
