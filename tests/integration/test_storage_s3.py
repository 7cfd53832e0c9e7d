"""What only the S3 backend does: Object Lock, expiry tags, signed sizes, part sizing."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from botocore.exceptions import ClientError

from artifactstore.adapters.s3.presigning import (
    MAX_OBJECT_SIZE,
    MAX_PARTS,
    MIN_PART_SIZE,
    part_size_for,
)
from artifactstore.adapters.s3.storage import S3Storage
from artifactstore.domain.digests import Digest
from artifactstore.domain.keys import blob_key, manifest_key
from artifactstore.domain.retention import RetentionClass
from artifactstore.errors import InvalidInput, StorageError
from artifactstore.ports.storage import UploadTarget

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

pytestmark = pytest.mark.integration

MiB = 1024**2
EPHEMERAL = RetentionClass("ephemeral", expire_days=14)
EVIDENCE = RetentionClass("release-evidence", lock_mode="GOVERNANCE", lock_days=30)


@pytest.fixture
def s3(moto_server: str) -> S3Client:
    import boto3

    return boto3.session.Session().client("s3")


@pytest.fixture
def bucket(s3: S3Client) -> str:
    name = f"test-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    return name


@pytest.fixture
def storage(bucket: str) -> Iterator[S3Storage]:
    import boto3
    from botocore.config import Config

    # Injected clients must sign presigned URLs with SigV4 (boto3's default S3 presign is V2).
    client = boto3.session.Session().client("s3", config=Config(signature_version="s3v4"))
    # A low copy threshold sends the 11 MiB blob (one PUT: below the multipart threshold, so
    # promoted from its upload key) through the managed multipart copy.
    yield S3Storage(
        bucket, client=client, multipart_threshold=16 * MiB, url_ttl=600, copy_threshold=8 * MiB
    )


def upload(storage: S3Storage, data: bytes) -> UploadTarget:
    package_id = str(uuid.uuid4())
    target = storage.upload_target(package_id, Digest.of_bytes(data), len(data))
    if target.upload_id is None:
        assert target.url is not None
        assert httpx.put(target.url, content=data, headers=dict(target.headers)).status_code == 200
        return target
    etags = []
    for part in target.parts:
        chunk = data[part.offset : part.offset + part.size]
        answer = httpx.put(part.url, content=chunk, headers=dict(target.headers))
        etags.append(answer.headers["ETag"])
    storage.complete_multipart(
        package_id, Digest.parse(str(target.digest)), target.upload_id, etags
    )
    return target


def retain_until(s3: S3Client, bucket: str, key: str) -> tuple[str, datetime]:
    # HeadObject, not GetObjectRetention: moto 5.2 does not implement the latter (a 500).
    head = s3.head_object(Bucket=bucket, Key=key)
    return head["ObjectLockMode"], head["ObjectLockRetainUntilDate"]


def tags(s3: S3Client, bucket: str, key: str) -> dict[str, str]:
    tag_set = s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]
    return {t["Key"]: t["Value"] for t in tag_set}


@pytest.mark.parametrize("size", [1000, 11 * MiB], ids=["copy_object", "multipart_copy"])
def test_release_evidence_blobs_are_object_locked(
    s3: S3Client, bucket: str, storage: S3Storage, size: int
) -> None:
    data = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    digest = Digest.of_bytes(data)
    storage.promote(upload(storage, data).key, digest, EVIDENCE)

    mode, until = retain_until(s3, bucket, blob_key(digest))
    assert mode == "GOVERNANCE"
    # Lock days are whole days from the promotion; allow a day either side for clocks.
    now = datetime.now(UTC)
    assert now + timedelta(days=29) < until < now + timedelta(days=31)
    assert tags(s3, bucket, blob_key(digest)) == {}
    version = s3.head_object(Bucket=bucket, Key=blob_key(digest))["VersionId"]
    with pytest.raises(ClientError) as refused:  # the lock holds without a bypass
        s3.delete_object(Bucket=bucket, Key=blob_key(digest), VersionId=version)
    assert refused.value.response["Error"]["Code"] == "AccessDenied"


@pytest.mark.parametrize("size", [1000, 11 * MiB], ids=["copy_object", "multipart_copy"])
def test_ephemeral_blobs_are_tagged_for_expiry_and_not_locked(
    s3: S3Client, bucket: str, storage: S3Storage, size: int
) -> None:
    data = b"e" * size
    digest = Digest.of_bytes(data)
    storage.promote(upload(storage, data).key, digest, EPHEMERAL)

    assert tags(s3, bucket, blob_key(digest)) == {"retention": "ephemeral"}
    assert "ObjectLockMode" not in s3.head_object(Bucket=bucket, Key=blob_key(digest))


def test_manifests_carry_their_class_lock_and_never_expire(
    s3: S3Client, bucket: str, storage: S3Storage
) -> None:
    kept, passing = b'{"kept":true}', b'{"kept":false}'
    storage.put_manifest(Digest.of_bytes(kept), kept, EVIDENCE)
    storage.put_manifest(Digest.of_bytes(passing), passing, EPHEMERAL)

    assert retain_until(s3, bucket, manifest_key(Digest.of_bytes(kept)))[0] == "GOVERNANCE"
    # Evidence of what an expired package held: S3's lifecycle never takes it.
    assert tags(s3, bucket, manifest_key(Digest.of_bytes(passing))) == {}
    assert "ObjectLockMode" not in s3.head_object(
        Bucket=bucket, Key=manifest_key(Digest.of_bytes(passing))
    )


def test_put_url_signs_size_type_and_ttl(storage: S3Storage) -> None:
    target = storage.upload_target("pkg", Digest.of_bytes(b"abc"), 3)

    assert target.url is not None
    query = parse_qs(urlsplit(target.url).query)
    assert query["X-Amz-SignedHeaders"] == ["content-length;content-type;host"]
    assert query["X-Amz-Expires"] == ["600"]
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert dict(target.headers) == {
        "Content-Type": "application/octet-stream",
        "Content-Length": "3",
    }
    assert target.expires_in == 600


def test_part_urls_sign_each_part_size(storage: S3Storage) -> None:
    target = storage.upload_target("pkg", Digest.of_bytes(b"big"), 20 * MiB)

    signed = [parse_qs(urlsplit(p.url).query)["X-Amz-SignedHeaders"] for p in target.parts]
    assert signed == [["content-length;host"]] * 3
    assert [p.size for p in target.parts] == [8 * MiB, 8 * MiB, 4 * MiB]


def test_part_size_fits_five_tib_in_ten_thousand_parts() -> None:
    assert part_size_for(1) == MIN_PART_SIZE == 8 * MiB
    assert part_size_for(80_000 * MiB) == 8 * MiB
    assert part_size_for(80_000 * MiB + 1) == 16 * MiB
    biggest = part_size_for(MAX_OBJECT_SIZE)
    assert biggest == 1024 * MiB
    assert biggest * MAX_PARTS >= MAX_OBJECT_SIZE
    assert -(-MAX_OBJECT_SIZE // (biggest // 2)) > MAX_PARTS  # half would not fit


def test_oversized_blob_is_refused(storage: S3Storage) -> None:
    with pytest.raises(InvalidInput) as caught:
        storage.upload_target("pkg", Digest.of_bytes(b"x"), MAX_OBJECT_SIZE + 1)
    assert caught.value.code == "blob_too_large"


def test_bad_parts_are_invalid_input(storage: S3Storage) -> None:
    target = storage.upload_target("pkg", Digest.of_bytes(b"big"), 17 * MiB)
    assert target.upload_id is not None
    with pytest.raises(InvalidInput) as caught:
        storage.complete_multipart(
            "pkg", Digest.of_bytes(b"big"), target.upload_id, ['"0123456789abcdef"']
        )
    assert caught.value.code == "invalid_multipart_parts"


def test_missing_bucket_is_a_storage_error_by_code(moto_server: str) -> None:
    storage = S3Storage("no-such-bucket-here", multipart_threshold=5 * MiB, url_ttl=600)
    with pytest.raises(StorageError) as caught:
        storage.put_manifest(Digest.of_bytes(b"{}"), b"{}", EPHEMERAL)
    assert caught.value.details["s3_error_code"] == "NoSuchBucket"
