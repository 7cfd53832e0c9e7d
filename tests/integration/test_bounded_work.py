"""Server work per package of small files is bounded (issue 17.4): the verifier's storage
writes grow with the bundles, not the files, and its catalog writes with files/1,000 and
blobs/64, whatever the file count. Counted on the S3 route, as the clients send them."""

from __future__ import annotations

import json
import math
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from localdev.stack import LocalStack

from artifactstore.adapters.s3.storage import S3Storage
from artifactstore.domain.bundles import BUNDLE_MAX_MEMBERS
from tests.integration.conftest import Configured, configured_for
from tests.integration.dynamodb_calls import DynamoCalls, catalog_client
from tests.integration.flow import AUTH, Harness, digest_of
from tests.integration.s3_calls import S3Calls

pytestmark = pytest.mark.integration

FILES = 3000
S3_WRITES = {
    "PutObject",
    "CopyObject",
    "DeleteObject",
    "DeleteObjects",
    "PutObjectRetention",
    "PutObjectTagging",
    "DeleteObjectTagging",
    "CompleteMultipartUpload",
}
DYNAMODB_WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
DYNAMODB_READS = {"GetItem", "Query", "BatchGetItem", "Scan"}
BLOBS_PER_BUCKET = 64  # adapters/dynamodb/file_list_items.py


class BucketsRead:
    """The blob bucket items (``sk=BLOB#…``) the catalog's client gets back, and the statuses
    they hold, while installed (a ``after-call`` hook: what was read, not what was asked)."""

    def __init__(self, client: Any) -> None:
        self.items = 0
        self.statuses = 0
        self._events = client.meta.events
        self._events.register("after-call.dynamodb", self._after_call)

    def _after_call(self, parsed: dict[str, Any], **_: Any) -> None:
        for item in parsed.get("Items", []):
            if item.get("sk", {}).get("S", "").startswith("BLOB#"):
                self.items += 1
                self.statuses += len(item.get("status", {}).get("M", {}))

    def close(self) -> None:
        self._events.unregister("after-call.dynamodb", self._after_call)


@pytest.fixture
def cfg(big_stack: LocalStack, tmp_path: Path) -> Iterator[Configured]:
    """Every package on S3, on ``big_stack``: the 2,500-blob draft left pending here is no
    other test's maintenance round to walk."""
    with configured_for(big_stack, tmp_path / "storage", "*:*=s3") as configured:
        yield configured


def test_a_package_of_small_files_costs_writes_per_bundle_not_per_file(cfg: Configured) -> None:
    h = Harness.start(cfg)
    h.notifications()  # what earlier tests on this worker left on the shared queue
    files = {f"cases/{i:05d}.log": f"{i} {uuid.uuid4()}".encode() * 8 for i in range(FILES)}
    by_digest = {digest_of(d): d for d in files.values()}
    key = str(uuid.uuid4())
    created = h.create(key, files, bundle_below=1 << 20)
    assert created.status_code == 201, created.text
    package_id = created.json()["package_id"]
    # Every blob is missing and small: all travel in bundles, in digest order as the API
    # pages them (the first page is in the answer).
    missing = sorted(by_digest)
    first_page = [d["digest"] for d in created.json()["bundle_blobs"]]
    assert first_page == missing[: len(first_page)] and created.json()["upload_targets"] == []
    bundles = 0
    for start in range(0, len(missing), BUNDLE_MAX_MEMBERS):
        asked = h.client.post(
            f"/packages/{package_id}/bundles",
            json={"blobs": missing[start : start + BUNDLE_MAX_MEMBERS]},
            headers=AUTH,
        )
        assert asked.status_code == 201, asked.text
        answer = asked.json()
        h.upload(answer["upload_target"], b"".join(by_digest[d] for d in answer["blobs"]))
        bundles += 1

    s3 = S3Calls(cast(S3Storage, cfg.svc.storage("s3")))
    dynamodb = DynamoCalls(catalog_client(cfg.svc.catalog))
    try:
        assert h.pump() == bundles
        sealed = h.client.post(f"/packages/{package_id}/finalize", headers=AUTH)
        assert sealed.status_code == 200, sealed.text
    finally:
        s3.close()
        dynamodb.close()
    s3_writes = Counter(n for n in s3.take() if n in S3_WRITES)
    catalog_writes = Counter(c.operation for c in dynamodb.calls if c.operation in DYNAMODB_WRITES)
    print(f"{FILES} files, {bundles} bundles: S3 {dict(s3_writes)}, catalog {dict(catalog_writes)}")
    # Per bundle: its pack written once, the bundle deleted; then the manifest. (10,000 files:
    # five bundles, eleven writes.)
    assert bundles == math.ceil(FILES / BUNDLE_MAX_MEMBERS)
    assert s3_writes == Counter({"PutObject": bundles + 1, "DeleteObject": bundles})
    # Blob items: one transaction per 99 new blobs; statuses: one transaction per bucket a
    # bundle touches (a bundle's members are consecutive digests: about 2,000/64 buckets);
    # sealing: a few writes per 1,000-file chunk.
    bound = (
        math.ceil(FILES / 99)
        + bundles * (math.ceil(BUNDLE_MAX_MEMBERS / 64) + 2)
        + 3 * math.ceil(FILES / 1000)
        + 10
    )
    assert sum(catalog_writes.values()) <= bound, catalog_writes


def test_a_later_page_of_targets_checks_only_its_own_blobs(cfg: Configured) -> None:
    h = Harness.start(cfg)
    files = {f"f/{i:05d}.bin": f"{i} {uuid.uuid4()}".encode() for i in range(2500)}
    created = h.create(str(uuid.uuid4()), files)
    assert created.status_code == 201, created.text
    body = created.json()
    package_id, cursor = body["package_id"], body["next_upload_targets_cursor"]
    assert cursor is not None and body["missing_blobs"] == 2500
    client = catalog_client(cfg.svc.catalog)
    dynamodb = DynamoCalls(client)
    buckets = BucketsRead(client)
    try:
        page = h.client.get(
            f"/packages/{package_id}/upload-targets", params={"cursor": cursor}, headers=AUTH
        )
    finally:
        dynamodb.close()
        buckets.close()
    assert page.status_code == 200, page.text
    looked_up = sum(
        len(request["Keys"])
        for c in dynamodb.calls
        if c.operation == "BatchGetItem"
        for request in c.body["RequestItems"].values()
    )
    # The page's own 1,000 blobs, not the 2,000 still pending after the first page.
    assert looked_up == 1000
    assert len(page.json()["upload_targets"]) == 1000
    assert page.json()["missing_blobs"] == 2500
    assert page.json()["next_cursor"] == page.json()["upload_targets"][-1]["digest"][7:]

    reads = Counter(c.operation for c in dynamodb.calls if c.operation in DYNAMODB_READS)
    print(
        f"later page of 2,500 blobs: {dict(reads)} read requests, {buckets.items} blob buckets"
        f" ({buckets.statuses} statuses) read"
    )
    # Its statuses only: the bucket holding the cursor, then the fewest buckets that could
    # hold the page's 1,000 blobs and the one after them (one more of slack), not all 40
    # buckets (2,500 statuses) on every page. Every query of the buckets is bounded (Limit).
    assert buckets.items <= 1 + math.ceil(1001 / BLOBS_PER_BUCKET) + 1, buckets.items
    assert buckets.statuses < 1001 + 2 * BLOBS_PER_BUCKET, buckets.statuses
    bucket_queries = [
        c.body
        for c in dynamodb.calls
        if c.operation == "Query" and "BLOB#" in json.dumps(c.body.get("ExpressionAttributeValues"))
    ]
    assert bucket_queries and all("Limit" in q for q in bucket_queries), bucket_queries


def test_later_pages_answer_as_when_every_status_was_read(cfg: Configured) -> None:
    h = Harness.start(cfg)
    h.notifications()  # what earlier tests on this worker left on the shared queue
    files = {f"g/{i:05d}.bin": f"{i} {uuid.uuid4()}".encode() for i in range(2500)}
    by_digest = {digest_of(d): d for d in files.values()}
    ordered = sorted(by_digest)
    created = h.create(str(uuid.uuid4()), files)
    assert created.status_code == 201, created.text
    package_id, cursor = created.json()["package_id"], created.json()["next_upload_targets_cursor"]
    assert cursor == ordered[999][7:]
    # Another package of the producer verifies four blobs of the second page and two further
    # on: the second page finds its four held, and hands their places to the next blobs.
    shared = [ordered[n] for n in (1000, 1200, 1500, 1999, 2000, 2100)]
    other = h.create(str(uuid.uuid4()), {f"s/{n}.bin": by_digest[d] for n, d in enumerate(shared)})
    assert other.status_code == 201, other.text
    for target in other.json()["upload_targets"]:
        h.upload(target, by_digest[target["digest"]])
    assert h.pump() == len(shared)

    second = h.client.get(
        f"/packages/{package_id}/upload-targets", params={"cursor": cursor}, headers=AUTH
    ).json()
    held_here = set(shared[:4])
    expected = [d for d in ordered[1000:] if d not in held_here][:1000]
    assert [t["digest"] for t in second["upload_targets"]] == expected
    assert expected[-1] == ordered[2003]  # ordered[2000], held, is past the checked window
    assert second["next_cursor"] == expected[-1][7:]
    assert second["missing_blobs"] == 2500 - 4

    third = h.client.get(
        f"/packages/{package_id}/upload-targets",
        params={"cursor": second["next_cursor"]},
        headers=AUTH,
    ).json()
    assert [t["digest"] for t in third["upload_targets"]] == [
        d for d in ordered[2004:] if d != shared[5]
    ]
    assert third["next_cursor"] is None
    assert third["missing_blobs"] == 2500 - 5
    first = h.client.get(f"/packages/{package_id}/upload-targets", headers=AUTH).json()
    assert first["missing_blobs"] == 2500 - 6  # the first page checks every blob


def test_a_page_finding_its_blobs_held_moves_them_a_bucket_at_a_time(cfg: Configured) -> None:
    from tests.integration.test_pack_lifecycle import _sealed_in_one_bundle

    h = Harness.start(cfg)
    h.notifications()  # what earlier tests on this worker left on the shared queue
    files = {f"h/{i:04d}.bin": f"{i} {uuid.uuid4()}".encode() for i in range(300)}
    waiting = h.create(str(uuid.uuid4()), files)
    assert waiting.status_code == 201, waiting.text
    package_id = waiting.json()["package_id"]
    assert waiting.json()["missing_blobs"] == 300
    # Another package of the producer stores the same bytes meanwhile (one bundle, one pack).
    _sealed_in_one_bundle(h, files, "release-evidence")

    dynamodb = DynamoCalls(catalog_client(cfg.svc.catalog))
    try:
        page = h.client.get(f"/packages/{package_id}/upload-targets", headers=AUTH)
    finally:
        dynamodb.close()
    assert page.status_code == 200, page.text
    assert page.json()["upload_targets"] == [] and page.json()["missing_blobs"] == 0
    assert cfg.svc.catalog.get_package(package_id).verified_count == 300
    writes = Counter(c.operation for c in dynamodb.calls if c.operation in DYNAMODB_WRITES)
    # One conditional write per bucket of statuses, not one per blob (300 before).
    assert sum(writes.values()) <= math.ceil(300 / BLOBS_PER_BUCKET) + 2, writes
