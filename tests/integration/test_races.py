"""At-least-once, out-of-order AWS: redelivery, reordering and races with real threads."""

from __future__ import annotations

import json
import random
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import unquote_plus

from artifactstore.domain.packages import BlobStatus
from artifactstore.domain.tokens import ADMIN
from artifactstore.service import drafts
from artifactstore.service.verification import verify_upload
from tests.integration.conftest import Configured
from tests.integration.flow import AUTH, Harness, digest_of
from tests.lambda_runtime import receive_all


def unique_files(count: int) -> dict[str, bytes]:
    """``count`` files with bytes no other test stored."""
    nonce = uuid.uuid4().hex
    return {f"f/{i:03}.txt": f"{nonce} {i}".encode() for i in range(count)}


def all_at_once(workers: int, task: Callable[[], Any]) -> list[Any]:
    """Run ``task`` on ``workers`` threads released together by a barrier."""
    barrier = threading.Barrier(workers)

    def run() -> Any:
        barrier.wait()
        return task()

    with ThreadPoolExecutor(workers) as pool:
        return [f.result() for f in [pool.submit(run) for _ in range(workers)]]


def sealed_events(cfg: Configured, package_id: str) -> list[dict[str, Any]]:
    """Seal events for one package that reached the linker's queue."""
    return [
        json.loads(m["Body"])
        for m in receive_all(cfg.stack.linker_queue_url)
        if package_id in m["Body"]
    ]


def test_six_concurrent_creators_get_one_package(configured: Configured) -> None:
    h = Harness.start(configured)
    files = unique_files(5)
    key = str(uuid.uuid4())
    answers = all_at_once(6, lambda: h.create(key, files))
    assert sorted(a.status_code for a in answers) == [200] * 5 + [201]
    ids = {a.json()["package_id"] for a in answers}
    assert len(ids) == 1
    listed = h.client.get("/packages", params={"producer": "guide-board", "key": key}, headers=AUTH)
    assert [p["package_id"] for p in listed.json()["items"]] == list(ids)


def test_redelivered_and_shuffled_notifications_seal_once(configured: Configured) -> None:
    h = Harness.start(configured)
    files = unique_files(12)
    created = h.create(str(uuid.uuid4()), files).json()
    package_id = created["package_id"]
    by_digest = {digest_of(d): d for d in files.values()}
    for t in created["upload_targets"]:
        h.upload(t, by_digest[t["digest"]])
    finalize = h.client.post(f"/packages/{package_id}/finalize", headers=AUTH)
    assert finalize.status_code == 202 and finalize.json()["waiting_for"] == 12

    records = h.notifications()
    doubled = records + [dict(r, messageId=str(uuid.uuid4())) for r in records]
    random.Random(7).shuffle(doubled)
    for start in range(0, len(doubled), 10):
        assert h.verify(doubled[start : start + 10]) == {"batchItemFailures": []}

    record = configured.svc.catalog.get_package(package_id)
    assert record.state.value == "sealed"
    assert record.verified_count == 12 and record.rejected_count == 0
    assert len(sealed_events(configured, package_id)) == 1


def race_finalize_with_last_verification(configured: Configured) -> None:
    """Two finalizers and two deliveries of the last notification, released together."""
    h = Harness.start(configured)
    svc = configured.svc
    files = unique_files(2)
    created = h.create(str(uuid.uuid4()), files).json()
    package_id = created["package_id"]
    by_digest = {digest_of(d): d for d in files.values()}
    for t in created["upload_targets"]:
        h.upload(t, by_digest[t["digest"]])
    records = [r for r in h.notifications() if "ObjectCreated" in r["body"]]
    assert len(records) == 2
    assert h.verify(records[:1]) == {"batchItemFailures": []}
    # S3 URL-encodes keys in notifications, as the verifier handler knows.
    key = unquote_plus(json.loads(records[1]["body"])["Records"][0]["s3"]["object"]["key"])
    backend = created["backend"]
    tasks: list[Callable[[], Any]] = [
        lambda: drafts.finalize(svc, ADMIN, package_id),
        lambda: verify_upload(svc, backend, key),
    ] * 2
    barrier = threading.Barrier(len(tasks))

    def run(task: Callable[[], Any]) -> Any:
        barrier.wait()
        return task()

    with ThreadPoolExecutor(len(tasks)) as pool:
        list(pool.map(run, tasks))
    record = svc.catalog.get_package(package_id)
    assert record.state.value == "sealed"
    assert record.verified_count == record.blob_count == 2
    assert len(sealed_events(configured, package_id)) == 1
    assert {b.status for b in svc.catalog.blob_states(package_id)} == {BlobStatus.VERIFIED}


def test_finalize_racing_the_last_verification_seals_once(configured: Configured) -> None:
    for _ in range(3):
        race_finalize_with_last_verification(configured)
