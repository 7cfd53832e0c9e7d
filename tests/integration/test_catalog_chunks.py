"""File lists as chunk items and blob statuses in buckets: few items, every file findable."""

from __future__ import annotations

import uuid
from typing import Any

import boto3
import pytest

from artifactstore.adapters.dynamodb import file_list_items as file_lists
from artifactstore.domain.digests import Digest
from artifactstore.domain.manifest import FileEntry
from artifactstore.domain.packages import BlobStatus
from tests.integration.conftest import Configured
from tests.integration.flow import AUTH, Harness, digest_of, expected_manifest_digest, run_metadata
from tests.integration.test_file_parts import entries, first_part


def partition(cfg: Configured, package_id: str) -> dict[str, int]:
    """How many items of each kind (sort key prefix) the package's partition holds."""
    client = boto3.client("dynamodb")
    counts: dict[str, int] = {}
    kwargs: dict[str, Any] = {
        "TableName": cfg.env["ARTIFACTSTORE_TABLE_NAME"],
        "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": {":pk": {"S": f"PKG#{package_id}"}},
        "ProjectionExpression": "sk",
    }
    while True:
        page = client.query(**kwargs)
        for item in page["Items"]:
            kind = item["sk"]["S"].split("#", 1)[0]
            counts[kind] = counts.get(kind, 0) + 1
        if "LastEvaluatedKey" not in page:
            return counts
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


@pytest.mark.parametrize("configured", ["local"], indirect=True)
def test_a_big_list_is_a_few_items_and_every_file_is_found(configured: Configured) -> None:
    h = Harness.start(configured)
    nonce = uuid.uuid4().hex
    count = 2_501  # three chunks of files; each file its own blob
    files = {f"d/{i:05}": f"{nonce} {i}".encode() for i in range(count)}
    created = h.create(str(uuid.uuid4()), files)
    assert created.status_code == 201, created.text
    package_id = created.json()["package_id"]

    buckets = -(-count // file_lists.BLOBS_PER_BUCKET)
    assert file_lists.FILES_PER_CHUNK == 1000
    assert partition(configured, package_id) == {"PKG": 1, "FILE": 3, "BLOB": buckets}

    catalog = configured.svc.catalog
    names = sorted(files)
    assert [f.path for f in catalog.iter_files(package_id)] == names
    for i in (0, 999, 1000, 1001, 1999, 2000, count - 1):  # first and last of every chunk
        found = catalog.get_file(package_id, names[i])
        assert (found.path, str(found.digest)) == (names[i], digest_of(files[names[i]]))
    for missing in ("a", "d/00000x", "d/99999", "e"):
        with pytest.raises(Exception) as refused:
            catalog.get_file(package_id, missing)
        assert getattr(refused.value, "code", None) == "file_not_found"

    # Pages across chunk boundaries: every file exactly once, in order.
    seen: list[str] = []
    cursor = None
    while True:
        page = catalog.list_files(package_id, 700, cursor)
        seen.extend(f.entry.path for f in page.items)
        assert all(f.status is BlobStatus.PENDING for f in page.items)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == names


@pytest.mark.parametrize("configured", ["local"], indirect=True)
def test_blob_status_moves_in_its_bucket_once(configured: Configured) -> None:
    h = Harness.start(configured)
    nonce = uuid.uuid4().hex
    files = {f"f/{i:04}": f"{nonce} {i}".encode() for i in range(1_200)}
    package_id = h.create(str(uuid.uuid4()), files).json()["package_id"]
    catalog = configured.svc.catalog
    digests = sorted((Digest.parse(digest_of(d)) for d in files.values()), key=lambda d: d.hex)
    per_bucket = file_lists.BLOBS_PER_BUCKET
    last_of_first_bucket, first_of_second = digests[per_bucket - 1], digests[per_bucket]
    bogus = Digest("f" * 64)

    assert catalog.set_blob_status(
        package_id, last_of_first_bucket, BlobStatus.REJECTED, str(bogus)
    )
    assert not catalog.set_blob_status(
        package_id, last_of_first_bucket, BlobStatus.REJECTED, str(bogus)
    )
    assert catalog.set_blob_status(package_id, last_of_first_bucket, BlobStatus.VERIFIED)
    assert catalog.set_blob_status(package_id, first_of_second, BlobStatus.VERIFIED)
    assert not catalog.set_blob_status(package_id, first_of_second, BlobStatus.REJECTED, "x")

    record = catalog.get_package(package_id)
    assert (record.verified_count, record.rejected_count) == (2, 0)
    states = {b.digest: b for b in catalog.blob_states(package_id)}
    assert len(states) == 1_200
    assert [d for d, b in states.items() if b.status is BlobStatus.VERIFIED] == sorted(
        [last_of_first_bucket, first_of_second], key=lambda d: d.hex
    )
    assert states[last_of_first_bucket].seen_digest is None
    assert catalog.get_blob_state(package_id, Digest("0" * 64)) is None
    with pytest.raises(Exception) as refused:
        catalog.set_blob_status(package_id, Digest("0" * 64), BlobStatus.VERIFIED)
    assert getattr(refused.value, "code", None) == "blob_not_listed"


def test_chunks_stay_far_below_the_item_limit_whatever_the_paths() -> None:
    long_paths = [FileEntry(f"{i:04}/" + "é" * 500, 1, Digest(f"{i:064x}")) for i in range(1_500)]
    runs = list(file_lists.split_files(long_paths))
    assert sum(len(r) for r in runs) == 1_500
    assert all(len(file_lists.encode_files(r).encode()) < 250_000 for r in runs)
    assert [f for r in runs for f in file_lists.decode_files(file_lists.encode_files(r))] == (
        long_paths
    )


@pytest.mark.parametrize("configured", ["local"], indirect=True)
def test_parts_that_disagree_about_a_path_never_open_and_parts_go_once_complete(
    configured: Configured,
) -> None:
    h = Harness.start(configured)
    nonce = uuid.uuid4().hex
    files = {f"p/{i}": f"{nonce} {i}".encode() for i in range(4)}
    key = str(uuid.uuid4())
    digest = digest_of(b"declared, never reached")
    created = h.client.post(
        "/packages", json=first_part(key, dict(list(files.items())[:2]), 4, digest), headers=AUTH
    )
    package_id = created.json()["package_id"]
    url = f"/packages/{package_id}/files"
    other = {"p/0": b"other bytes", "p/2": files["p/2"]}  # 4 entries: within the cap
    refused = h.client.post(url, json={"files": entries(other), "complete": True}, headers=AUTH)
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert error["code"] == "file_list_conflict" and error["details"]["path"] == "p/0"
    # A failed completion drops the parts (and their markers): never re-read.
    assert partition(configured, package_id) == {"PKG": 1}

    key = str(uuid.uuid4())
    digest = expected_manifest_digest(key, run_metadata(key), files)
    names = sorted(files)
    created = h.client.post(
        "/packages", json=first_part(key, {n: files[n] for n in names[:2]}, 4, digest), headers=AUTH
    )
    package_id = created.json()["package_id"]
    rest = {n: files[n] for n in names[2:]}
    done = h.client.post(
        f"/packages/{package_id}/files",
        json={"files": entries(rest), "complete": True},
        headers=AUTH,
    )
    assert done.status_code == 200, done.text
    assert partition(configured, package_id) == {"PKG": 1, "FILE": 1, "BLOB": 1}


@pytest.mark.parametrize("configured", ["local"], indirect=True)
def test_a_stale_expected_status_is_caught_by_the_condition_and_read_again(
    configured: Configured,
) -> None:
    h = Harness.start(configured)
    files = {"only": f"{uuid.uuid4()}".encode()}
    package_id = h.create(str(uuid.uuid4()), files).json()["package_id"]
    catalog = configured.svc.catalog
    digest = Digest.parse(digest_of(files["only"]))
    read = catalog.get_blob_state(package_id, digest)
    assert read is not None and read.status is BlobStatus.PENDING
    # Another verifier rejects it after this one read "pending".
    assert catalog.set_blob_status(package_id, digest, BlobStatus.REJECTED, "blake3:" + "e" * 64)

    assert catalog.set_blob_status(package_id, digest, BlobStatus.VERIFIED, expected=read)
    record = catalog.get_package(package_id)
    assert (record.verified_count, record.rejected_count) == (1, 0)
    assert not catalog.set_blob_status(package_id, digest, BlobStatus.VERIFIED, expected=read)
    assert catalog.get_package(package_id).verified_count == 1


@pytest.mark.parametrize("configured", ["local"], indirect=True)
def test_many_statuses_move_a_bucket_per_transaction_and_count_once(
    configured: Configured,
) -> None:
    h = Harness.start(configured)
    nonce = uuid.uuid4().hex
    files = {f"m/{i:03}": f"{nonce} {i}".encode() for i in range(150)}  # three buckets
    package_id = h.create(str(uuid.uuid4()), files).json()["package_id"]
    catalog = configured.svc.catalog
    digests = sorted(Digest.parse(digest_of(d)).hex for d in files.values())
    already = Digest(digests[70])
    assert catalog.set_blob_status(package_id, already, BlobStatus.VERIFIED)
    bad = "blake3:" + "d" * 64
    changes: dict[str, tuple[BlobStatus, str | None]] = {
        hx: (BlobStatus.REJECTED, bad) if i % 10 == 0 else (BlobStatus.VERIFIED, None)
        for i, hx in enumerate(digests[:140])
    }

    moved = catalog.set_blob_statuses(package_id, changes)
    assert moved == set(digests[:140]) - {already.hex}
    assert catalog.set_blob_statuses(package_id, changes) == set()  # a redelivery moves nothing
    record = catalog.get_package(package_id)
    rejected = sum(1 for i in range(140) if i % 10 == 0 and i != 70)  # verified stays so
    assert (record.verified_count, record.rejected_count) == (140 - rejected, rejected)
    states = {b.digest.hex: b for b in catalog.blob_states(package_id)}
    assert states[digests[0]].seen_digest == bad
    assert all(states[hx].status is BlobStatus.PENDING for hx in digests[140:])

    with pytest.raises(Exception) as refused:
        catalog.set_blob_statuses(package_id, {"0" * 64: (BlobStatus.VERIFIED, None)})
    assert getattr(refused.value, "code", None) == "blob_not_listed"
    assert catalog.get_package(package_id).verified_count == record.verified_count
