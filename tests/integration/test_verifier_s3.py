"""The verifier on S3: the requests one verified upload costs, and exactly-once per version.

Real parts only: moto in server mode sends the bucket's ObjectCreated notifications to the
stack's queue (with ``versionId``, as S3 does for a versioned bucket), the verifier Lambda's
handler gets them as the SQS event Lambda builds, and a botocore event hook on the adapter's own
client records every S3 operation it sends.
"""

from __future__ import annotations

import json
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

import httpx
import pytest

from artifactstore.domain.digests import Digest
from artifactstore.domain.keys import blob_key, pack_key
from artifactstore.domain.packages import BlobStatus
from artifactstore.domain.packs import upload_pack_name
from tests.integration.conftest import Configured
from tests.integration.flow import Harness, digest_of
from tests.integration.s3_calls import S3Calls
from tests.lambda_runtime import FakeContext, load_handler

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

pytestmark = pytest.mark.integration

MiB = 1024**2
ONE_UPLOAD = ["GetObject", "CopyObject", "DeleteObject"]


def unique(size: int = 64) -> bytes:
    """Bytes no other test stored (blobs are shared by every package of a backend)."""
    nonce = uuid.uuid4().bytes
    return (nonce * (size // len(nonce) + 1))[:size]


def s3_object(record: dict[str, Any]) -> dict[str, Any]:
    """The ``s3.object`` of the one S3 record an SQS record's body carries."""
    obj: dict[str, Any] = json.loads(record["body"])["Records"][0]["s3"]["object"]
    return obj


def created_for(h: Harness, package_id: str, *keys: str) -> list[dict[str, Any]]:
    """The ObjectCreated notifications waiting for this package's uploads (and ``keys``)."""
    return [
        r
        for r in h.notifications()
        if "ObjectCreated" in r["body"]
        and (package_id in s3_object(r)["key"] or unquote_plus(s3_object(r)["key"]) in keys)
    ]


def redelivered(record: dict[str, Any]) -> dict[str, Any]:
    """The same notification delivered again (SQS gives it a fresh message id)."""
    return dict(record, messageId=str(uuid.uuid4()))


def delivered_together(records: list[dict[str, Any]]) -> list[Any]:
    """Each record to the verifier Lambda in a batch of its own, all at once (one thread
    each, released together); the handler's answers in order."""
    handler = load_handler("verifier").lambda_handler
    barrier = threading.Barrier(len(records))

    def deliver(record: dict[str, Any]) -> Any:
        barrier.wait()
        return handler({"Records": [record]}, FakeContext())

    with ThreadPoolExecutor(len(records)) as pool:
        return list(pool.map(deliver, records))


def without_version(record: dict[str, Any]) -> dict[str, Any]:
    """The notification as an unversioned bucket (or the local backend) sends it."""
    body = json.loads(record["body"])
    body["Records"][0]["s3"]["object"].pop("versionId")
    return dict(record, body=json.dumps(body))


def versions(s3: S3Client, bucket: str, prefix: str) -> list[str]:
    answer = s3.list_object_versions(Bucket=bucket, Prefix=prefix)
    return [v["VersionId"] for v in answer.get("Versions", [])]


def put(target: dict[str, Any], data: bytes) -> None:
    answer = httpx.put(target["url"], content=data, headers=target["headers"])
    assert answer.status_code == 200, answer.text


def draft(h: Harness, files: dict[str, bytes]) -> tuple[str, dict[str, dict[str, Any]]]:
    """A new release-evidence draft: its id and its upload targets by digest."""
    created = h.create(str(uuid.uuid4()), files)
    assert created.status_code == 201, created.text
    body = created.json()
    return body["package_id"], {t["digest"]: t for t in body["upload_targets"]}


def test_a_verified_upload_costs_a_get_a_copy_and_a_delete(
    cfg: Configured, calls: S3Calls, s3: S3Client
) -> None:
    h = Harness.start(cfg)
    files = {f"f{i}.bin": unique(100 + i) for i in range(3)}
    package_id, targets = draft(h, files)
    for data in files.values():
        put(targets[digest_of(data)], data)
    records = created_for(h, package_id)
    assert len(records) == 3
    assert all(s3_object(r)["versionId"] for r in records)  # S3 names the version created

    for record in records:
        calls.take()
        assert h.verify([record]) == {"batchItemFailures": []}
        # No HEAD before the GET, no HEAD + PutObjectRetention after the copy, no listing.
        assert calls.take() == ONE_UPLOAD

    package = cfg.svc.catalog.get_package(package_id)
    assert package.verified_count == 3 and package.rejected_count == 0
    for data in files.values():
        head = s3.head_object(Bucket=cfg.stack.bucket, Key=blob_key(Digest.parse(digest_of(data))))
        assert head["ObjectLockMode"] == "GOVERNANCE"  # locked by the copy itself
    assert versions(s3, cfg.stack.bucket, f"uploads/{package_id}/") == []


def test_a_notification_without_version_costs_the_same(cfg: Configured, calls: S3Calls) -> None:
    h = Harness.start(cfg)
    data = unique()
    package_id, targets = draft(h, {"a.bin": data})
    put(targets[digest_of(data)], data)
    (record,) = created_for(h, package_id)

    calls.take()
    assert h.verify([without_version(record)]) == {"batchItemFailures": []}

    assert calls.take() == ONE_UPLOAD  # the GET's answer names the version to copy and delete
    assert cfg.svc.catalog.get_package(package_id).verified_count == 1


def test_a_redelivered_notification_changes_nothing(
    cfg: Configured, calls: S3Calls, s3: S3Client
) -> None:
    h = Harness.start(cfg)
    data = unique()
    package_id, targets = draft(h, {"a.bin": data})
    put(targets[digest_of(data)], data)
    (record,) = created_for(h, package_id)
    assert h.verify([record]) == {"batchItemFailures": []}
    key = blob_key(Digest.parse(digest_of(data)))
    blob_versions = versions(s3, cfg.stack.bucket, key)

    calls.take()
    assert h.verify([redelivered(record)]) == {"batchItemFailures": []}

    assert calls.take() == ["DeleteObject"]  # of that version, already gone: a no-op
    assert versions(s3, cfg.stack.bucket, key) == blob_versions
    record_after = cfg.svc.catalog.get_package(package_id)
    assert record_after.verified_count == 1 and record_after.rejected_count == 0


def test_each_version_of_a_retried_put_is_handled_once(
    cfg: Configured, calls: S3Calls, s3: S3Client
) -> None:
    h = Harness.start(cfg)
    data = unique()
    package_id, targets = draft(h, {"a.bin": data})
    put(targets[digest_of(data)], data)
    put(targets[digest_of(data)], data)  # the client retried: a second version
    records = created_for(h, package_id)
    assert len({s3_object(r)["versionId"] for r in records}) == 2

    for record in reversed(records):
        assert h.verify([record]) == {"batchItemFailures": []}

    package = cfg.svc.catalog.get_package(package_id)
    assert package.verified_count == 1 and package.rejected_count == 0
    assert versions(s3, cfg.stack.bucket, f"uploads/{package_id}/") == []
    assert len(versions(s3, cfg.stack.bucket, blob_key(Digest.parse(digest_of(data))))) == 1


def test_a_tampered_version_is_rejected_without_losing_the_good_one(
    cfg: Configured, s3: S3Client
) -> None:
    h = Harness.start(cfg)
    data = unique()
    tampered = unique(len(data))
    package_id, targets = draft(h, {"a.bin": data})
    digest = Digest.parse(digest_of(data))
    put(targets[str(digest)], tampered)
    put(targets[str(digest)], data)
    first, second = created_for(h, package_id)
    upload_prefix = f"uploads/{package_id}/"

    assert h.verify([first]) == {"batchItemFailures": []}

    state = cfg.svc.catalog.get_blob_state(package_id, digest)
    assert state is not None
    assert (state.status, state.seen_digest) == (BlobStatus.REJECTED, digest_of(tampered))
    # Only the tampered version is gone; the good one still waits for its own notification.
    assert versions(s3, cfg.stack.bucket, upload_prefix) == [s3_object(second)["versionId"]]
    assert not cfg.svc.storage("s3").has_blob(digest)

    assert h.verify([second]) == {"batchItemFailures": []}

    package = cfg.svc.catalog.get_package(package_id)
    assert package.verified_count == 1 and package.rejected_count == 0
    assert versions(s3, cfg.stack.bucket, upload_prefix) == []
    with cfg.svc.storage("s3").open_blob(digest) as stream:
        assert stream.read() == data


def test_a_multipart_upload_notifies_once_and_concurrent_deliveries_verify_once(
    cfg: Configured, s3: S3Client
) -> None:
    h = Harness.start(cfg)
    data = unique(6 * MiB)  # above the 5 MiB multipart threshold the tests configure
    package_id, targets = draft(h, {"big.bin": data})
    completed = h.upload_multipart(package_id, targets[digest_of(data)], data)
    assert completed.status_code == 200, completed.text

    digest = Digest.parse(digest_of(data))
    pack = pack_key(upload_pack_name(package_id, digest))
    # S3 sends one notification, not Put + Complete, for the upload pack the bytes went to
    (record,) = created_for(h, package_id, pack)
    assert json.loads(record["body"])["Records"][0]["eventName"] == (
        "ObjectCreated:CompleteMultipartUpload"
    )
    assert unquote_plus(s3_object(record)["key"]) == pack
    assert delivered_together([record, redelivered(record)]) == [{"batchItemFailures": []}] * 2
    package = cfg.svc.catalog.get_package(package_id)
    assert package.verified_count == 1 and package.rejected_count == 0
    # verified where it lies: one version in its upload pack, no copy anywhere
    assert len(versions(s3, cfg.stack.bucket, pack)) == 1
    assert versions(s3, cfg.stack.bucket, blob_key(digest)) == []
    assert versions(s3, cfg.stack.bucket, f"uploads/{package_id}/") == []
    held = cfg.svc.catalog.held_records("s3", [digest])[digest.hex]
    assert held.place is not None and held.place.pack == upload_pack_name(package_id, digest)
