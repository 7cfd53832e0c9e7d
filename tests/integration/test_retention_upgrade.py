"""A blob shared by packages of different retention classes is kept as the strongest asks.

Real parts only: the API and the verifier Lambda's handler against moto in server mode, every
blob on S3 (``*:*=s3``); assertions read the real S3 object with a separate boto3 client, and a
botocore event hook on the adapter's own client counts the requests protection costs.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

import httpx
import pytest

from artifactstore.adapters.s3.storage import S3Storage
from artifactstore.domain.digests import Digest
from artifactstore.domain.keys import blob_key
from artifactstore.domain.protection import LOCK_SLACK, Protection, needs_upgrade
from artifactstore.domain.retention import RetentionClass
from tests.integration.conftest import Configured
from tests.integration.flow import AUTH, Harness, digest_of, run_metadata
from tests.integration.s3_calls import S3Calls

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

pytestmark = pytest.mark.integration

TEN_YEARS = timedelta(days=3650)
# Every S3 operation that reads or changes a blob's protection.
PROTECTION_CALLS = {
    "HeadObject",
    "GetObjectTagging",
    "PutObjectTagging",
    "DeleteObjectTagging",
    "GetObjectRetention",
    "PutObjectRetention",
}
EVIDENCE = RetentionClass("release-evidence", lock_mode="GOVERNANCE", lock_days=3650)
EPHEMERAL = RetentionClass("ephemeral", expire_days=14)


def unique(size: int = 64) -> bytes:
    """Bytes no other test stored (blobs are shared by every package of a backend)."""
    nonce = uuid.uuid4().bytes
    return (nonce * (size // len(nonce) + 1))[:size]


def create(h: Harness, files: dict[str, bytes], retention_class: str) -> dict[str, Any]:
    answer = h.create(str(uuid.uuid4()), files, retention_class=retention_class)
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


def upload_all(body: dict[str, Any], files: dict[str, bytes]) -> None:
    by_digest = {digest_of(d): d for d in files.values()}
    for target in body["upload_targets"]:
        answer = httpx.put(
            target["url"], content=by_digest[target["digest"]], headers=target["headers"]
        )
        assert answer.status_code == 200, answer.text


def finalize(h: Harness, package_id: str) -> None:
    answer = h.client.post(f"/packages/{package_id}/finalize", headers=AUTH)
    assert answer.status_code == 200, answer.text
    assert answer.json()["state"] == "sealed"


def ingest(h: Harness, files: dict[str, bytes], retention_class: str) -> dict[str, Any]:
    """A package through the whole life: create, upload what is missing, verify, seal."""
    body = create(h, files, retention_class)
    upload_all(body, files)
    h.pump()
    finalize(h, body["package_id"])
    return body


def blob_protection(s3: S3Client, cfg: Configured, data: bytes) -> Protection:
    """How S3 really keeps the blob of ``data``: its tags and its lock."""
    key = blob_key(Digest.parse(digest_of(data)))
    tag_set = s3.get_object_tagging(Bucket=cfg.stack.bucket, Key=key)["TagSet"]
    # HeadObject, not GetObjectRetention: the local emulator does not implement the latter.
    head = s3.head_object(Bucket=cfg.stack.bucket, Key=key)
    expiring = {"Key": "retention", "Value": "ephemeral"} in tag_set
    return Protection(expiring, head.get("ObjectLockMode"), head.get("ObjectLockRetainUntilDate"))


def assert_kept_ten_years(kept: Protection) -> None:
    assert not kept.expiring
    assert kept.lock_mode == "GOVERNANCE"
    assert kept.retain_until is not None
    assert kept.retain_until >= datetime.now(UTC) + TEN_YEARS - LOCK_SLACK


def forget(cfg: Configured, data: bytes, *attributes: str) -> None:
    """Remove attributes from the blob's catalog item, as an older version wrote it."""
    import boto3

    boto3.client("dynamodb").update_item(
        TableName=cfg.stack.table,
        Key={"pk": {"S": f"BLOB#s3#{Digest.parse(digest_of(data)).hex}"}, "sk": {"S": "BLOB"}},
        UpdateExpression="REMOVE " + ", ".join(attributes),
    )


def recorded(cfg: Configured, data: bytes) -> Protection | None:
    digest = Digest.parse(digest_of(data))
    return cfg.svc.catalog.held_blobs("s3", [digest])[digest.hex]


def test_a_kept_package_re_using_an_expiring_blob_removes_its_expiry_and_locks_it(
    cfg: Configured, s3: S3Client
) -> None:
    h = Harness.start(cfg)
    shared, own = unique(), unique()
    ingest(h, {"shared.bin": shared}, "ephemeral")
    assert blob_protection(s3, cfg, shared) == Protection(True)  # tagged, unlocked

    body = create(h, {"shared.bin": shared, "own.bin": own}, "release-evidence")
    assert [t["digest"] for t in body["upload_targets"]] == [digest_of(own)]  # shared: held
    upload_all(body, {"own.bin": own})
    h.pump()
    finalize(h, body["package_id"])

    assert_kept_ten_years(blob_protection(s3, cfg, shared))
    known = recorded(cfg, shared)
    assert known is not None and not needs_upgrade(
        known, Protection.asked(EVIDENCE, cfg.svc.clock())
    )


def test_a_kept_upload_verified_after_an_expiring_one_was_promoted_protects_the_blob(
    cfg: Configured, s3: S3Client
) -> None:
    h = Harness.start(cfg)
    shared = unique()
    files = {"shared.bin": shared}
    ephemeral = create(h, files, "ephemeral")
    evidence = create(h, files, "release-evidence")  # not held yet: both upload it
    upload_all(ephemeral, files)
    h.pump()  # the ephemeral upload is promoted first: tagged for expiry
    upload_all(evidence, files)
    h.pump()  # the kept one finds the blob held
    finalize(h, ephemeral["package_id"])
    finalize(h, evidence["package_id"])

    assert_kept_ten_years(blob_protection(s3, cfg, shared))


def test_racing_promotions_leave_the_blob_kept_as_the_stronger_class_asks(
    cfg: Configured, s3: S3Client
) -> None:
    storage = cast(S3Storage, cfg.svc.storage("s3"))
    data = unique()
    digest = Digest.parse(digest_of(data))
    first = storage.upload_target(str(uuid.uuid4()), digest, len(data))
    second = storage.upload_target(str(uuid.uuid4()), digest, len(data))
    for target in (first, second):
        assert target.url is not None
        assert httpx.put(target.url, content=data, headers=dict(target.headers)).status_code == 200

    # Two verifiers, neither of which saw the other's catalog record: the second copy is
    # refused (the blob key is write-once) and the blob it finds is raised to its class.
    storage.promote(first.key, digest, EPHEMERAL)
    kept = storage.promote(second.key, digest, EVIDENCE)

    assert_kept_ten_years(blob_protection(s3, cfg, data))
    assert_kept_ten_years(kept)


def test_re_using_a_protected_blob_costs_no_storage_request(
    cfg: Configured, s3: S3Client, calls: S3Calls
) -> None:
    h = Harness.start(cfg)
    shared = unique()
    ingest(h, {"shared.bin": shared}, "ephemeral")
    ingest(h, {"shared.bin": shared, "a.bin": unique()}, "release-evidence")  # upgrades it
    assert_kept_ten_years(blob_protection(s3, cfg, shared))
    calls.take()

    body = create(h, {"shared.bin": shared}, "release-evidence")
    assert body["upload_targets"] == []
    finalize(h, body["package_id"])

    assert calls.take() == ["PutObject"]  # the manifest; nothing for the held blob


def test_an_expiring_package_re_using_a_kept_blob_changes_nothing(
    cfg: Configured, s3: S3Client, calls: S3Calls
) -> None:
    h = Harness.start(cfg)
    shared = unique()
    ingest(h, {"shared.bin": shared}, "ephemeral")
    ingest(h, {"shared.bin": shared, "a.bin": unique()}, "release-evidence")
    before = blob_protection(s3, cfg, shared)
    assert_kept_ten_years(before)
    calls.take()

    ingest(h, {"shared.bin": shared, "b.bin": unique()}, "ephemeral")

    assert blob_protection(s3, cfg, shared) == before  # no tag back, the same lock end
    assert not PROTECTION_CALLS & set(calls.take())


def test_a_blob_recorded_before_protections_is_read_from_storage_then_upgraded(
    cfg: Configured, s3: S3Client, calls: S3Calls
) -> None:
    h = Harness.start(cfg)
    shared = unique()
    ingest(h, {"shared.bin": shared}, "ephemeral")
    # The item as the catalog wrote it before protections were recorded.
    forget(cfg, shared, "expiring", "lock_mode", "retain_until")
    assert recorded(cfg, shared) is None
    calls.take()

    body = create(h, {"shared.bin": shared}, "release-evidence")

    assert body["upload_targets"] == []
    assert sorted(calls.take()) == ["DeleteObjectTagging", "HeadObject", "PutObjectRetention"]
    finalize(h, body["package_id"])
    assert_kept_ten_years(blob_protection(s3, cfg, shared))
    known = recorded(cfg, shared)
    assert known is not None and not known.expiring and known.retain_until is not None


# -- expiring blobs re-used by expiring packages ---------------------------------------------


def current_version(s3: S3Client, cfg: Configured, data: bytes) -> tuple[str, datetime, bool]:
    """The blob's current version on S3: its id, creation date, and whether it is tagged."""
    key = blob_key(Digest.parse(digest_of(data)))
    head = s3.head_object(Bucket=cfg.stack.bucket, Key=key)
    tags = s3.get_object_tagging(Bucket=cfg.stack.bucket, Key=key)["TagSet"]
    tagged = {"Key": "retention", "Value": "ephemeral"} in tags
    return head["VersionId"], head["LastModified"], tagged


def days_later(cfg: Configured, days: float) -> datetime:
    """Move the services' clock (the API's and the verifier's) ``days`` ahead."""
    later = cfg.svc.clock() + timedelta(days=days)
    cfg.svc.clock = lambda: later
    return later


def test_an_expiring_blob_re_used_close_to_its_expiry_is_renewed(
    cfg: Configured, s3: S3Client, calls: S3Calls
) -> None:
    h = Harness.start(cfg)
    shared, own = unique(), unique()
    ingest(h, {"shared.bin": shared}, "ephemeral")
    first_version, first_created, _ = current_version(s3, cfg, shared)
    now = days_later(cfg, 13)  # the blob would expire a day after the next package seals
    calls.take()

    body = create(h, {"shared.bin": shared, "own.bin": own}, "ephemeral")

    assert [t["digest"] for t in body["upload_targets"]] == [digest_of(own)]  # shared: held
    assert calls.take() == ["HeadObject", "CopyObject", "GetObjectTagging"]
    version, created, tagged = current_version(s3, cfg, shared)
    assert version != first_version and created >= first_created and tagged
    known = recorded(cfg, shared)
    assert known == Protection(True, expires_at=now + timedelta(days=14))
    upload_all(body, {"own.bin": own})
    h.pump()
    finalize(h, body["package_id"])


def test_an_expiring_package_re_using_a_fresh_expiring_blob_costs_no_storage_request(
    cfg: Configured, s3: S3Client, calls: S3Calls
) -> None:
    h = Harness.start(cfg)
    shared = unique()
    ingest(h, {"shared.bin": shared}, "ephemeral")
    known = recorded(cfg, shared)
    assert known is not None and known.expires_at is not None  # recorded at promotion
    days_later(cfg, 0.5)  # within the slack of a day
    calls.take()

    body = create(h, {"shared.bin": shared}, "ephemeral")
    assert body["upload_targets"] == []
    finalize(h, body["package_id"])

    assert calls.take() == ["PutObject"]  # the manifest; nothing for the held blob
    assert recorded(cfg, shared) == known


def test_an_expired_blob_is_uploaded_again_and_the_package_seals(
    cfg: Configured, s3: S3Client
) -> None:
    h = Harness.start(cfg)
    shared = unique()
    ingest(h, {"shared.bin": shared}, "ephemeral")
    # What the lifecycle rule does 14 days on: a delete marker becomes the current version.
    key = blob_key(Digest.parse(digest_of(shared)))
    assert s3.delete_object(Bucket=cfg.stack.bucket, Key=key)["DeleteMarker"]
    days_later(cfg, 15)

    body = create(h, {"shared.bin": shared}, "ephemeral")

    assert [t["digest"] for t in body["upload_targets"]] == [digest_of(shared)]
    upload_all(body, {"shared.bin": shared})
    assert h.pump() == 1
    finalize(h, body["package_id"])
    assert s3.get_object(Bucket=cfg.stack.bucket, Key=key)["Body"].read() == shared
    assert current_version(s3, cfg, shared)[2]  # stored again, tagged for expiry


def test_a_kept_package_re_using_an_expired_blob_uploads_it_again(
    cfg: Configured, s3: S3Client
) -> None:
    h = Harness.start(cfg)
    shared = unique()
    ingest(h, {"shared.bin": shared}, "ephemeral")
    key = blob_key(Digest.parse(digest_of(shared)))
    assert s3.delete_object(Bucket=cfg.stack.bucket, Key=key)["DeleteMarker"]  # the lifecycle
    days_later(cfg, 15)

    # Untagging a delete marker is a 405 on S3 (moto is patched to answer so): gone.
    body = create(h, {"shared.bin": shared}, "release-evidence")

    assert [t["digest"] for t in body["upload_targets"]] == [digest_of(shared)]
    upload_all(body, {"shared.bin": shared})
    assert h.pump() == 1
    finalize(h, body["package_id"])
    assert s3.get_object(Bucket=cfg.stack.bucket, Key=key)["Body"].read() == shared


def test_an_expiring_blob_recorded_without_its_expiry_is_dated_from_storage(
    cfg: Configured, s3: S3Client, calls: S3Calls
) -> None:
    h = Harness.start(cfg)
    shared = unique()
    ingest(h, {"shared.bin": shared}, "ephemeral")
    # The item as the catalog wrote it before expiry dates were recorded.
    forget(cfg, shared, "expires_at")
    assert recorded(cfg, shared) == Protection(True)
    _, created, _ = current_version(s3, cfg, shared)
    calls.take()

    body = create(h, {"shared.bin": shared}, "ephemeral")

    assert body["upload_targets"] == []
    assert calls.take() == ["HeadObject"]  # created just now: no renewal
    assert recorded(cfg, shared) == Protection(True, expires_at=created + timedelta(days=14))
    finalize(h, body["package_id"])


def test_a_tag_taken_off_while_a_renewal_copies_stays_off(cfg: Configured, s3: S3Client) -> None:
    storage = cast(S3Storage, cfg.svc.storage("s3"))
    data = unique()
    digest = Digest.parse(digest_of(data))
    storage.put_blob(digest, data, EPHEMERAL)
    key = blob_key(digest)

    # A kept package's DeleteObjectTagging reaching the old version just as the copy lands.
    def untag_source(parsed: dict[str, Any], **_: Any) -> None:
        s3.delete_object_tagging(
            Bucket=cfg.stack.bucket, Key=key, VersionId=parsed["CopySourceVersionId"]
        )

    events = storage.client.meta.events
    events.register("after-call.s3.CopyObject", untag_source)
    try:
        stale = Protection(True, expires_at=datetime.now(UTC))
        kept = storage.protect(digest, Protection.asked(EPHEMERAL, datetime.now(UTC)), stale)
    finally:
        events.unregister("after-call.s3.CopyObject", untag_source)

    assert kept == Protection(False)
    assert not current_version(s3, cfg, data)[2]


def test_a_blob_above_the_single_copy_limit_is_renewed_by_a_multipart_copy(
    cfg: Configured, s3: S3Client
) -> None:
    import boto3
    from botocore.config import Config

    # A copy threshold of 64 bytes stands for S3's 5 GiB limit of a single CopyObject.
    storage = S3Storage(
        cfg.stack.bucket,
        client=boto3.session.Session().client("s3", config=Config(signature_version="s3v4")),
        multipart_threshold=5 * 1024 * 1024,
        url_ttl=600,
        copy_threshold=64,
    )
    data = unique(100)
    digest = Digest.parse(digest_of(data))
    storage.put_blob(digest, data, EPHEMERAL)
    first_version = current_version(s3, cfg, data)[0]
    asked = Protection.asked(EPHEMERAL, datetime.now(UTC))

    calls = S3Calls(storage)
    try:
        kept = storage.protect(digest, asked, Protection(True, expires_at=datetime.now(UTC)))
    finally:
        calls.close()

    assert "UploadPartCopy" in calls.names and "CopyObject" not in calls.names
    assert kept == Protection(True, expires_at=asked.expires_at)
    version, _, tagged = current_version(s3, cfg, data)
    assert version != first_version and tagged
    key = blob_key(digest)
    assert s3.get_object(Bucket=cfg.stack.bucket, Key=key)["Body"].read() == data


def test_a_renewal_keeps_the_lock_storage_has_though_the_record_lags(
    cfg: Configured, s3: S3Client
) -> None:
    storage = cast(S3Storage, cfg.svc.storage("s3"))
    locked_ephemeral = RetentionClass("x", lock_mode="GOVERNANCE", lock_days=30, expire_days=14)
    data = unique()
    digest = Digest.parse(digest_of(data))
    stored = storage.put_blob(digest, data, locked_ephemeral)
    assert stored.retain_until is not None
    asked = Protection.asked(EPHEMERAL, datetime.now(UTC))

    # The record knows of no lock (it lags storage): the copy still gets the stored one.
    kept = storage.protect(digest, asked, Protection(True, expires_at=datetime.now(UTC)))

    lock_end = stored.retain_until.replace(microsecond=0)  # S3 keeps whole seconds
    assert kept is not None and kept.retain_until == lock_end
    head = s3.head_object(Bucket=cfg.stack.bucket, Key=blob_key(digest))
    assert head["ObjectLockMode"] == "GOVERNANCE"
    assert head["ObjectLockRetainUntilDate"] == lock_end


def test_a_lock_extended_while_a_renewal_copies_goes_on_the_copy(
    cfg: Configured, s3: S3Client
) -> None:
    storage = cast(S3Storage, cfg.svc.storage("s3"))
    data = unique()
    digest = Digest.parse(digest_of(data))
    storage.put_blob(digest, data, EPHEMERAL)
    key = blob_key(digest)
    lock_end = (datetime.now(UTC) + TEN_YEARS).replace(microsecond=0)

    # A kept package's protection (untag, then lock) reaching the old version as the copy lands.
    def keep_source(parsed: dict[str, Any], **_: Any) -> None:
        source = parsed["CopySourceVersionId"]
        s3.delete_object_tagging(Bucket=cfg.stack.bucket, Key=key, VersionId=source)
        s3.put_object_retention(
            Bucket=cfg.stack.bucket,
            Key=key,
            VersionId=source,
            Retention={"Mode": "GOVERNANCE", "RetainUntilDate": lock_end},
        )

    events = storage.client.meta.events
    events.register("after-call.s3.CopyObject", keep_source)
    try:
        stale = Protection(True, expires_at=datetime.now(UTC))
        kept = storage.protect(digest, Protection.asked(EPHEMERAL, datetime.now(UTC)), stale)
    finally:
        events.unregister("after-call.s3.CopyObject", keep_source)

    assert kept == Protection(False, "GOVERNANCE", lock_end)
    head = s3.head_object(Bucket=cfg.stack.bucket, Key=key)
    assert (head["ObjectLockMode"], head["ObjectLockRetainUntilDate"]) == ("GOVERNANCE", lock_end)
    assert not current_version(s3, cfg, data)[2]


# -- another producer's bytes: no protection raised without proof of possession ------------


def create_as(h: Harness, producer: str, files: dict[str, bytes], retention_class: str) -> Any:
    """POST /packages for ``producer`` (the admin token may write for any producer)."""
    key = str(uuid.uuid4())
    body = {
        "producer": producer,
        "idempotency_key": key,
        "retention_class": retention_class,
        "schema": "guide-board.run.v1",
        "metadata": run_metadata(key),
        "files": [{"path": p, "size": len(d), "digest": digest_of(d)} for p, d in files.items()],
    }
    answer = h.client.post("/packages", json=body, headers=AUTH)
    assert answer.status_code == 201, answer.text
    return answer.json()


def test_another_producer_naming_a_held_digest_uploads_it_before_its_protection_is_raised(
    cfg: Configured, s3: S3Client
) -> None:
    h = Harness.start(cfg)
    shared = unique()
    ingest(h, {"shared.bin": shared}, "ephemeral")  # guide-board's ephemeral bytes
    before = recorded(cfg, shared)
    assert blob_protection(s3, cfg, shared) == Protection(True)

    # lab names the digest for a 10-year class: it is not held for lab.
    body = create_as(h, "lab", {"shared.bin": shared}, "release-evidence")
    assert [t["digest"] for t in body["upload_targets"]] == [digest_of(shared)]
    assert blob_protection(s3, cfg, shared) == Protection(True)  # no lock, still expiring
    assert recorded(cfg, shared) == before
    # Asking again (fresh targets, finalize) raises nothing either.
    url = f"/packages/{body['package_id']}/upload-targets"
    assert len(h.client.get(url, headers=AUTH).json()["upload_targets"]) == 1
    waiting = h.client.post(f"/packages/{body['package_id']}/finalize", headers=AUTH)
    assert waiting.status_code == 202, waiting.text
    assert blob_protection(s3, cfg, shared) == Protection(True)

    # Wrong bytes of the right size prove nothing: rejected, protection unchanged.
    (target,) = body["upload_targets"]
    answer = httpx.put(target["url"], content=bytes(len(shared)), headers=target["headers"])
    assert answer.status_code == 200, answer.text
    h.pump()
    assert blob_protection(s3, cfg, shared) == Protection(True)
    assert recorded(cfg, shared) == before

    # The right bytes: hashed by the verifier, then the blob is kept as lab's class asks.
    fresh = h.client.get(url, headers=AUTH).json()
    upload_all(fresh, {"shared.bin": shared})
    assert h.pump() == 1
    finalize(h, body["package_id"])
    assert_kept_ten_years(blob_protection(s3, cfg, shared))
    assert cfg.svc.catalog.held_records("s3", [Digest.parse(digest_of(shared))])[
        Digest.parse(digest_of(shared)).hex
    ].producers == {"guide-board", "lab"}

    # Having proved possession, lab re-uses it with no upload.
    again = create_as(h, "lab", {"shared.bin": shared}, "release-evidence")
    assert again["upload_targets"] == []


def test_another_producer_re_uses_a_blob_already_kept_as_its_class_asks(
    cfg: Configured, s3: S3Client, calls: S3Calls
) -> None:
    h = Harness.start(cfg)
    shared = unique()
    ingest(h, {"shared.bin": shared}, "release-evidence")  # locked for ten years
    calls.take()

    body = create_as(h, "lab", {"shared.bin": shared}, "ephemeral")

    assert body["upload_targets"] == []  # covered already: nothing to raise, nothing to prove
    assert not PROTECTION_CALLS & set(calls.take())
    finalize(h, body["package_id"])
