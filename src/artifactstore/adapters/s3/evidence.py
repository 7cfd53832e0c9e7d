"""Manifests and attestation envelopes in S3: written once, kept under their package class's
lock but never tagged to expire, so they stay as evidence once the package has expired."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from artifactstore.adapters.s3.errors import mapped
from artifactstore.adapters.s3.objects import put_once
from artifactstore.domain.digests import Digest
from artifactstore.domain.keys import attestation_key, manifest_key
from artifactstore.domain.protection import Protection
from artifactstore.domain.retention import RetentionClass
from artifactstore.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

JSON = "application/json"


def put_manifest(
    client: S3Client, bucket: str, digest: Digest, data: bytes, retention: RetentionClass
) -> None:
    """Write a manifest once (``If-None-Match: *``); already written is fine: content-addressed,
    so it is these very bytes."""
    if Digest.of_bytes(data) != digest:
        raise InvalidInput(
            f"manifest bytes do not hash to {digest}",
            code="manifest_digest_mismatch",
            details={"digest": str(digest), "actual": str(Digest.of_bytes(data))},
        )
    put_once(client, bucket, manifest_key(digest), data, JSON, _evidence(retention), "manifest")


def get_manifest(client: S3Client, bucket: str, digest: Digest) -> bytes:
    """A manifest's canonical bytes."""
    key = manifest_key(digest)
    with mapped(key, "manifest"):
        return client.get_object(Bucket=bucket, Key=key)["Body"].read()


def put_attestation(
    client: S3Client, bucket: str, package_id: str, data: bytes, retention: RetentionClass
) -> bool:
    """Write a package's envelope once (``If-None-Match: *``); False when one is there."""
    key = attestation_key(package_id)
    return put_once(client, bucket, key, data, JSON, _evidence(retention), "object")


def get_attestation(client: S3Client, bucket: str, package_id: str) -> bytes | None:
    """A package's envelope, or None while there is none."""
    key = attestation_key(package_id)
    try:
        with mapped(key):
            return client.get_object(Bucket=bucket, Key=key)["Body"].read()
    except NotFound:
        return None


def _evidence(retention: RetentionClass) -> Protection:
    """The class's lock, never its expiry (no tag for the bucket's lifecycle rule)."""
    return replace(Protection.asked(retention, datetime.now(UTC)), expiring=False, expires_at=None)
