"""Large blobs uploaded straight into their upload packs, verified where they lie (issue 17.3).

On S3, a blob above the multipart threshold is uploaded into ``packs/…/<upload pack name>``;
the verifier hashes it there and records it there: no CopyObject, no UploadPartCopy, no second
copy of the bytes. Real parts: moto in server mode notifies the completed multipart upload,
the verifier Lambda's handler gets it as Lambda's SQS event, the API runs under a test client.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus, urlsplit

import httpx
import pytest

from artifactstore.domain.digests import Digest
from artifactstore.domain.keys import blob_key, pack_key
from artifactstore.domain.lifecycle import sweep_grace
from artifactstore.domain.packages import BlobStatus
from artifactstore.domain.packs import upload_pack_name
from artifactstore.service.lifecycle import run_maintenance
from tests.integration.conftest import Configured
from tests.integration.flow import AUTH, Harness, digest_of, run_metadata
from tests.integration.s3_calls import S3Calls
from tests.integration.test_verifier_s3 import (
    delivered_together,
    redelivered,
    s3_object,
    unique,
    versions,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

pytestmark = pytest.mark.integration

MiB = 1024**2
BIG = 6 * MiB  # above the 5 MiB multipart threshold the tests configure
EPHEMERAL_DAYS = 14


def created(h: Harness, files: dict[str, bytes], retention: str = "release-evidence") -> Any:
    """A new draft's answer (its id, its targets by digest)."""
    key = str(uuid.uuid4())
    answer = h.create(key, files, retention_class=retention, metadata=run_metadata(key))
    assert answer.status_code == 201, answer.text
    body = answer.json()
    return body["package_id"], {t["digest"]: t for t in body["upload_targets"]}


def pack_of(package_id: str, data: bytes) -> str:
    return pack_key(upload_pack_name(package_id, Digest.parse(digest_of(data))))


def notified(h: Harness, *keys: str) -> list[dict[str, Any]]:
    """The notifications waiting for ``keys`` (moto quotes the key in them)."""
    return [
        r
        for r in h.notifications()
        if "ObjectCreated" in r["body"] and unquote_plus(s3_object(r)["key"]) in keys
    ]


def finalize(h: Harness, package_id: str) -> httpx.Response:
    answer: httpx.Response = h.client.post(f"/packages/{package_id}/finalize", headers=AUTH)
    return answer


def test_a_large_upload_is_kept_where_it_lies_locked_and_read_from_there(
    cfg: Configured, calls: S3Calls, s3: S3Client
) -> None:
    h = Harness.start(cfg)
    data = unique(BIG)
    package_id, targets = created(h, {"big.bin": data})
    target = targets[digest_of(data)]
    key = pack_of(package_id, data)
    # Started with the backstop expiry tag: an upload pack the verifier never records ages out.
    assert h.upload_multipart(package_id, target, data).status_code == 200
    assert s3.get_object_tagging(Bucket=cfg.stack.bucket, Key=key)["TagSet"] == [
        {"Key": "retention", "Value": "ephemeral"}
    ]
    (record,) = notified(h, key)

    calls.take()
    assert h.verify([record]) == {"batchItemFailures": []}
    # One read of the bytes, then the class's protection applied in place: no copy, no delete.
    assert calls.take() == ["GetObject", "DeleteObjectTagging", "PutObjectRetention"]

    assert finalize(h, package_id).status_code == 200
    assert s3.get_object_tagging(Bucket=cfg.stack.bucket, Key=key)["TagSet"] == []
    head = s3.head_object(Bucket=cfg.stack.bucket, Key=key)
    assert head["ObjectLockMode"] == "GOVERNANCE"
    assert len(versions(s3, cfg.stack.bucket, key)) == 1
    assert versions(s3, cfg.stack.bucket, blob_key(Digest.parse(digest_of(data)))) == []
    assert versions(s3, cfg.stack.bucket, f"uploads/{package_id}/") == []

    # Read whole, as a single blob is: a plan entry without offset, a redirect for one file.
    plan = h.client.get(f"/packages/{package_id}/download-plan", headers=AUTH).json()
    (entry,) = plan["files"]
    assert entry["offset"] is None
    assert urlsplit(entry["url"]).path.endswith(key)
    assert httpx.get(entry["url"]).content == data
    answer = h.client.get(
        f"/packages/{package_id}/files/big.bin", headers=AUTH, follow_redirects=False
    )
    assert answer.status_code == 302
    assert urlsplit(answer.headers["location"]).path.endswith(key)

    # A redelivered notification finds it recorded there: nothing changes, nothing is deleted.
    assert h.verify([redelivered(record)]) == {"batchItemFailures": []}
    assert len(versions(s3, cfg.stack.bucket, key)) == 1


def test_bad_bytes_are_discarded_before_any_lock_and_the_upload_can_be_sent_again(
    cfg: Configured, s3: S3Client
) -> None:
    h = Harness.start(cfg)
    data = unique(BIG)
    package_id, targets = created(h, {"big.bin": data})
    key = pack_of(package_id, data)
    assert h.upload_multipart(package_id, targets[digest_of(data)], unique(BIG)).status_code == 200
    assert h.pump() == 1
    digest = Digest.parse(digest_of(data))
    state = cfg.svc.catalog.get_blob_state(package_id, digest)
    assert state is not None and state.status is BlobStatus.REJECTED
    assert versions(s3, cfg.stack.bucket, key) == []  # deleted by version: the key is free
    assert cfg.svc.catalog.held_records("s3", [digest]) == {}

    # The client resumes: a fresh target for the same key, and the right bytes this time.
    again = h.client.post("/packages", json=_body_of(h, package_id), headers=AUTH)
    assert again.status_code == 200, again.text
    (target,) = again.json()["upload_targets"]
    assert h.upload_multipart(package_id, target, data).status_code == 200
    assert h.pump() == 1
    assert finalize(h, package_id).status_code == 200
    assert len(versions(s3, cfg.stack.bucket, key)) == 1


def _body_of(h: Harness, package_id: str) -> dict[str, Any]:
    """The POST /packages body that created the package (same key: the same package)."""
    view = h.client.get(f"/packages/{package_id}", headers=AUTH).json()
    return {
        "producer": view["producer"],
        "idempotency_key": view["idempotency_key"],
        "retention_class": view["retention_class"],
        "schema": view["schema"],
        "metadata": view["metadata"],
        "files": [
            {"path": f["path"], "size": f["size"], "digest": f["digest"]} for f in view["files"]
        ],
    }


def test_a_second_upload_completed_for_one_upload_pack_is_dropped(
    cfg: Configured, s3: S3Client
) -> None:
    h = Harness.start(cfg)
    data = unique(BIG)
    package_id, targets = created(h, {"big.bin": data})
    # Asking again before anything arrived gives a second multipart upload for the same key.
    again = h.client.post("/packages", json=_body_of(h, package_id), headers=AUTH)
    (second,) = again.json()["upload_targets"]
    first = targets[digest_of(data)]
    assert first["upload_id"] != second["upload_id"]
    key = pack_of(package_id, data)

    assert h.upload_multipart(package_id, first, data).status_code == 200
    # The second completes without error (a client retrying sees success), but writes nothing.
    assert h.upload_multipart(package_id, second, unique(BIG)).status_code == 200
    assert len(versions(s3, cfg.stack.bucket, key)) == 1
    uploads = s3.list_multipart_uploads(Bucket=cfg.stack.bucket, Prefix=key).get("Uploads", [])
    assert uploads == []  # aborted, not left to the lifecycle
    assert h.pump() == 1
    assert finalize(h, package_id).status_code == 200
    with httpx.stream("GET", _plan_url(h, package_id)) as answer:
        assert Digest.of_bytes(answer.read()) == Digest.parse(digest_of(data))


def _plan_url(h: Harness, package_id: str) -> str:
    (entry,) = h.client.get(f"/packages/{package_id}/download-plan", headers=AUTH).json()["files"]
    url: str = entry["url"]
    return url


def test_two_packages_racing_with_the_same_bytes_keep_one_copy(
    cfg: Configured, s3: S3Client
) -> None:
    h = Harness.start(cfg)
    data = unique(BIG)
    one, one_targets = created(h, {"big.bin": data})
    two, two_targets = created(h, {"copy.bin": data})
    assert h.upload_multipart(one, one_targets[digest_of(data)], data).status_code == 200
    assert h.upload_multipart(two, two_targets[digest_of(data)], data).status_code == 200
    records = notified(h, pack_of(one, data), pack_of(two, data))
    assert len(records) == 2
    assert delivered_together(records) == [{"batchItemFailures": []}] * 2

    digest = Digest.parse(digest_of(data))
    held = cfg.svc.catalog.held_records("s3", [digest])[digest.hex]
    assert held.place is not None and held.place.offset == 0
    kept = pack_key(held.place.pack)
    assert kept in (pack_of(one, data), pack_of(two, data))
    spare = pack_of(two, data) if kept == pack_of(one, data) else pack_of(one, data)
    assert len(versions(s3, cfg.stack.bucket, kept)) == 1
    assert versions(s3, cfg.stack.bucket, spare) == []  # the loser's copy went, unlocked
    for package_id in (one, two):
        assert finalize(h, package_id).status_code == 200
        assert httpx.get(_plan_url(h, package_id)).content == data


def test_an_ephemeral_upload_pack_keeps_its_expiry_and_goes_with_its_blob(
    cfg: Configured, s3: S3Client
) -> None:
    h = Harness.start(cfg)
    svc = cfg.svc
    start = svc.clock()
    data = unique(BIG)
    package_id, targets = created(h, {"big.bin": data}, "ephemeral")
    key = pack_of(package_id, data)
    assert h.upload_multipart(package_id, targets[digest_of(data)], data).status_code == 200
    assert h.pump() == 1
    assert finalize(h, package_id).status_code == 200
    tags = s3.get_object_tagging(Bucket=cfg.stack.bucket, Key=key)["TagSet"]
    assert tags == [{"Key": "retention", "Value": "ephemeral"}]
    assert "ObjectLockMode" not in s3.head_object(Bucket=cfg.stack.bucket, Key=key)

    later = start + timedelta(days=EPHEMERAL_DAYS) + sweep_grace(svc.draft_ttl) + timedelta(hours=1)
    svc.clock = lambda: later
    figures = run_maintenance(svc)
    assert figures.finished and figures.blobs_deleted >= 1
    digest = Digest.parse(digest_of(data))
    assert cfg.svc.catalog.held_records("s3", [digest]) == {}
    assert versions(s3, cfg.stack.bucket, key) == []
