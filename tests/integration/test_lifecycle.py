"""Packages end as their retention says, and blobs end when nothing may rely on them (issue 18).

Maintenance rounds run on a moved clock (``Services.clock``), as ``python -m localdev.ctl
maintenance --as-of`` does; storage's own Object Lock keeps real time. Both backends.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from localdev.stack import LocalStack

from artifactstore.domain.digests import Digest
from artifactstore.domain.keys import manifest_key
from artifactstore.domain.lifecycle import sweep_grace
from artifactstore.service.lifecycle import run_maintenance
from tests.integration.conftest import Configured, configured_for
from tests.integration.flow import AUTH, Harness, digest_of, run_metadata

pytestmark = pytest.mark.integration
EPHEMERAL_DAYS = 14  # the default ephemeral class


def _create(h: Harness, files: dict[str, bytes], retention: str, key: str | None = None) -> Any:
    key = key or str(uuid.uuid4())
    return h.create(key, files, retention_class=retention, metadata=run_metadata(key))


def _seal(h: Harness, files: dict[str, bytes], retention: str, key: str | None = None) -> str:
    """A sealed package of ``files`` in ``retention``; its id."""
    created = _create(h, files, retention, key)
    assert created.status_code in (200, 201), created.text
    by_digest = {digest_of(data): data for data in files.values()}
    for target in created.json()["upload_targets"]:
        h.upload(target, by_digest[target["digest"]])
    h.pump()
    package_id: str = created.json()["package_id"]
    sealed = h.client.post(f"/packages/{package_id}/finalize", headers=AUTH)
    assert sealed.status_code == 200, sealed.text
    return package_id


def _past_every_expiry(cfg: Configured, start: datetime) -> datetime:
    """A time when an ephemeral package sealed at ``start`` has expired and its blobs are
    past their grace."""
    return (
        start + timedelta(days=EPHEMERAL_DAYS) + sweep_grace(cfg.svc.draft_ttl) + timedelta(hours=1)
    )


def _blob(data: bytes) -> Digest:
    return Digest.parse(digest_of(data))


def test_an_ephemeral_package_expires_and_its_own_bytes_go_while_shared_ones_stay(
    configured: Configured,
) -> None:
    h = Harness.start(configured)
    svc = configured.svc
    shared, own, kept = (f"{name} {uuid.uuid4()}".encode() for name in ("shared", "own", "kept"))
    start = svc.clock()
    ephemeral = _seal(h, {"shared.txt": shared, "own.txt": own}, "ephemeral")
    release = _seal(h, {"shared.txt": shared, "kept.txt": kept}, "release-evidence")
    view = h.client.get(f"/packages/{ephemeral}", headers=AUTH).json()
    due = datetime.fromisoformat(view["expiry_due"])
    assert due == datetime.fromisoformat(view["sealed_at"]) + timedelta(days=EPHEMERAL_DAYS)
    assert h.client.get(f"/packages/{release}", headers=AUTH).json()["expiry_due"] is None
    storage = svc.storage(view["backend"])
    manifest = h.client.get(f"/packages/{ephemeral}/manifest", headers=AUTH)

    # A round before the package's time changes nothing of it.
    svc.clock = lambda: due - timedelta(minutes=1)
    run_maintenance(svc)
    assert h.client.get(f"/packages/{ephemeral}", headers=AUTH).json()["state"] == "sealed"
    assert storage.has_blob(_blob(own))

    later = _past_every_expiry(configured, start)
    svc.clock = lambda: later
    figures = run_maintenance(svc)
    assert figures.packages_expired >= 1
    assert figures.blobs_deleted >= 1
    assert figures.bytes_reclaimed >= len(own)
    assert figures.finished

    view = h.client.get(f"/packages/{ephemeral}", headers=AUTH).json()
    assert view["state"] == "expired"
    assert datetime.fromisoformat(view["expired_at"]) == later
    listed = h.client.get("/packages", params={"state": "expired", "limit": 1000}, headers=AUTH)
    assert ephemeral in [p["package_id"] for p in listed.json()["items"]]
    # The record and the manifest stay; the files answer 410 with when.
    again = h.client.get(f"/packages/{ephemeral}/manifest", headers=AUTH)
    assert (again.status_code, again.content) == (200, manifest.content)
    if view["backend"] == "s3":
        # Nor will S3's lifecycle take the manifest later: it carries no expiry tag.
        import boto3

        key = manifest_key(Digest.parse(view["manifest_digest"]))
        bucket = configured.env["ARTIFACTSTORE_BUCKET"]
        tags = boto3.client("s3").get_object_tagging(Bucket=bucket, Key=key)["TagSet"]
        assert tags == []
    gone = h.client.get(f"/packages/{ephemeral}/files/own.txt", headers=AUTH)
    assert gone.status_code == 410
    assert gone.json()["error"]["code"] == "package_expired"
    assert later.isoformat() in gone.json()["error"]["message"]
    # Its own blob is gone from storage and catalog; the shared one and the release
    # package's own stay, and the release package still downloads.
    assert not storage.has_blob(_blob(own))
    assert svc.catalog.held_records(view["backend"], [_blob(own)]) == {}
    assert storage.has_blob(_blob(shared))
    assert storage.has_blob(_blob(kept))
    for path, data in (("shared.txt", shared), ("kept.txt", kept)):
        answer = h.client.get(
            f"/packages/{release}/files/{path}", headers=AUTH, follow_redirects=False
        )
        assert answer.status_code == 302, answer.text
        with storage.open_blob(_blob(data)) as stream:
            assert stream.read() == data
    assert h.client.get(f"/packages/{release}", headers=AUTH).json()["state"] == "sealed"

    # A second round finds nothing more to do of these.
    again_figures = run_maintenance(svc)
    assert (again_figures.packages_expired, again_figures.blobs_deleted) == (0, 0)


def test_an_expired_key_is_ingested_again_as_a_new_package(configured: Configured) -> None:
    h = Harness.start(configured)
    svc = configured.svc
    key = str(uuid.uuid4())
    files = {"a.txt": f"{uuid.uuid4()}".encode()}
    start = svc.clock()
    first = _seal(h, files, "ephemeral", key)
    # Before its time the same request reuses the sealed package.
    assert _create(h, files, "ephemeral", key).json()["package_id"] == first

    svc.clock = lambda: _past_every_expiry(configured, start)
    run_maintenance(svc)
    again = _create(h, files, "ephemeral", key)
    assert again.status_code == 201, again.text
    second = again.json()["package_id"]
    assert second != first
    assert again.json()["state"] == "draft"
    # Its blob was swept: the new package uploads it again.
    assert [t["digest"] for t in again.json()["upload_targets"]] == [digest_of(files["a.txt"])]
    old = h.client.get(f"/packages/{first}", headers=AUTH).json()
    assert old["state"] == "expired"
    listed = h.client.get(
        "/packages", params={"producer": "guide-board", "key": key}, headers=AUTH
    ).json()["items"]
    assert {p["package_id"]: p["state"] for p in listed} == {first: "expired", second: "draft"}


def test_a_sweep_that_died_midway_is_finished_by_the_next_round(configured: Configured) -> None:
    h = Harness.start(configured)
    svc = configured.svc
    data = f"{uuid.uuid4()}".encode()
    start = svc.clock()
    package_id = _seal(h, {"a.txt": data}, "ephemeral")
    backend = h.client.get(f"/packages/{package_id}", headers=AUTH).json()["backend"]
    later = _past_every_expiry(configured, start)
    # The first step of a sweep, then the round dies: the blob is tombstoned, not deleted.
    assert svc.catalog.tombstone_blob(
        backend, _blob(data), later - sweep_grace(svc.draft_ttl), later
    )
    assert svc.catalog.held_records(backend, [_blob(data)]) == {}  # no one may rely on it
    assert svc.storage(backend).has_blob(_blob(data))

    svc.clock = lambda: later
    figures = run_maintenance(svc)
    assert figures.blobs_deleted >= 1
    assert not svc.storage(backend).has_blob(_blob(data))
    assert svc.catalog.held_records(backend, [_blob(data)]) == {}
    assert _blob(data) not in [c.digest for c in svc.catalog.sweepable_blobs(backend, later, 1000)]


LOCKED_CLASSES = json.dumps(
    {
        "release-evidence": {"lock_mode": "GOVERNANCE", "lock_days": 3650},
        "ephemeral": {"expire_days": EPHEMERAL_DAYS},
        "locked-briefly": {"lock_mode": "GOVERNANCE", "lock_days": 30, "expire_days": 1},
    }
)


@pytest.fixture(params=["s3", "local"])
def locking(
    request: pytest.FixtureRequest, stack: LocalStack, tmp_path: Path
) -> Iterator[Configured]:
    """Either backend, with a class that both locks (30 days) and expires (1 day)."""
    with configured_for(
        stack,
        tmp_path / "storage",
        f"*:*={request.param}",
        ARTIFACTSTORE_RETENTION_CLASSES=LOCKED_CLASSES,
    ) as cfg:
        yield cfg


def test_a_locked_blob_is_never_deleted(locking: Configured) -> None:
    h = Harness.start(locking)
    svc = locking.svc
    data = f"locked {uuid.uuid4()}".encode()
    start = svc.clock()
    package_id = _seal(h, {"a.txt": data}, "locked-briefly")
    backend = h.client.get(f"/packages/{package_id}", headers=AUTH).json()["backend"]
    storage = svc.storage(backend)

    # The package's day is over, the blob's lock is not: the catalog keeps it.
    svc.clock = lambda: start + timedelta(days=10)
    run_maintenance(svc)
    assert h.client.get(f"/packages/{package_id}", headers=AUTH).json()["state"] == "expired"
    assert storage.has_blob(_blob(data))
    assert svc.catalog.held_records(backend, [_blob(data)]) != {}

    # Past the lock by the catalog's clock. S3 keeps real time: its lock still holds and
    # it refuses the delete, so the blob is kept (and looked at again later); a local file's
    # lock is a promise of time only, kept until then.
    svc.clock = lambda: start + timedelta(days=40)
    figures = run_maintenance(svc)
    if backend == "s3":
        assert figures.blobs_kept_locked >= 1
        assert storage.has_blob(_blob(data))
        assert svc.catalog.held_records(backend, [_blob(data)]) != {}
    else:
        assert not storage.has_blob(_blob(data))


def _ingest_until_sealed(h: Harness, files: dict[str, bytes]) -> str:
    """Create an ephemeral package and upload, verify and finalize until it seals, however
    often a sweep takes a blob from under it: every step retried as a client would."""
    by_digest = {digest_of(data): data for data in files.values()}
    created = _create(h, files, "ephemeral")
    assert created.status_code == 201, created.text
    package_id: str = created.json()["package_id"]
    targets = created.json()["upload_targets"]
    for _ in range(50):
        for target in targets:
            h.upload(target, by_digest[target["digest"]])
        records = h.notifications()
        for start in range(0, len(records), 10):
            # A blob being swept makes the verifier answer "later" for it: delivered again.
            h.verify(records[start : start + 10])
        answer = h.client.post(f"/packages/{package_id}/finalize", headers=AUTH)
        if answer.status_code == 200:
            return package_id
        assert answer.status_code in (202, 409), answer.text
        again = h.client.get(f"/packages/{package_id}/upload-targets", headers=AUTH)
        targets = again.json()["upload_targets"]
    raise AssertionError(f"package {package_id} never sealed")


def _race_one_round(h: Harness, blobs: dict[str, bytes]) -> list[str]:
    """A sweeper running rounds while three clients ingest packages that reuse the blobs;
    the packages sealed."""
    svc = h.cfg.svc
    errors: list[BaseException] = []
    sealed: list[str] = []

    def sweep() -> None:
        try:
            for _ in range(4):
                run_maintenance(svc)
        except BaseException as exc:
            errors.append(exc)

    def ingest(names: list[str]) -> None:
        try:
            client = Harness(h.cfg, h.client.__class__(h.client.app))
            sealed.append(_ingest_until_sealed(client, {n: blobs[n] for n in names}))
        except BaseException as exc:
            errors.append(exc)

    names = sorted(blobs)
    threads = [threading.Thread(target=sweep)] + [
        threading.Thread(target=ingest, args=(names[i : i + 4],)) for i in range(0, 6, 2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=240)
    assert not errors, errors
    return sealed


def _assert_bytes_held(h: Harness, package_id: str) -> None:
    view = h.client.get(f"/packages/{package_id}", headers=AUTH).json()
    assert view["state"] == "sealed"
    storage = h.cfg.svc.storage(view["backend"])
    for entry in view["files"]:
        digest = Digest.parse(entry["digest"])
        assert storage.has_blob(digest), (package_id, entry["path"])
        assert h.cfg.svc.catalog.held_records(view["backend"], [digest]) != {}


def test_sweeps_racing_packages_that_reuse_the_blobs_never_lose_a_sealed_packages_bytes(
    configured: Configured,
) -> None:
    h = Harness.start(configured)
    svc = configured.svc
    blobs = {f"b{i}.txt": f"blob {i} {uuid.uuid4()}".encode() for i in range(6)}
    now = svc.clock()
    _seal(h, blobs, "ephemeral")
    for _round in range(3):
        # Every blob is past its grace: the sweep may take any that no package renews first.
        now = _past_every_expiry(configured, now)
        at = now
        svc.clock = lambda at=at: at  # type: ignore[misc]
        sealed = _race_one_round(h, blobs)
        assert len(sealed) == 3
        # No sealed package, live at this time, misses a byte.
        for package_id in sealed:
            _assert_bytes_held(h, package_id)


def test_a_verifier_waits_for_a_sweep_and_a_leased_blob_is_not_swept(
    configured: Configured,
) -> None:
    h = Harness.start(configured)
    svc = configured.svc
    swept, leased = (f"{name} {uuid.uuid4()}".encode() for name in ("swept", "leased"))
    start = svc.clock()
    first = _seal(h, {"a.txt": swept, "b.txt": leased}, "ephemeral")
    backend = h.client.get(f"/packages/{first}", headers=AUTH).json()["backend"]
    later = _past_every_expiry(configured, start)
    svc.clock = lambda: later
    cutoff = later - sweep_grace(svc.draft_ttl)

    # A verifier leased one blob (it is about to rely on it): no sweep takes it meanwhile.
    assert svc.catalog.lease_blob(backend, _blob(leased), later + timedelta(hours=1))
    assert not svc.catalog.tombstone_blob(backend, _blob(leased), cutoff, later)
    # A sweep has begun on the other; a new package needs it: it is not held, so uploaded.
    assert svc.catalog.tombstone_blob(backend, _blob(swept), cutoff, later)
    created = _create(h, {"a.txt": swept}, "ephemeral").json()
    assert [t["digest"] for t in created["upload_targets"]] == [digest_of(swept)]
    h.upload(created["upload_targets"][0], swept)
    records = h.notifications()
    # The verifier will not promote over a blob being deleted: "later", the upload kept.
    with pytest.raises(BatchProcessingError) as later_please:
        h.verify(records)
    assert [type(e[1]).__name__ for e in later_please.value.child_exceptions] == ["NotReadyYet"]
    key = f"uploads/{created['package_id']}/{_blob(swept).hex}"
    assert svc.storage(backend).upload_size(key) == len(swept)
    # The sweep finishes; the notification comes again and the blob is stored anew.
    run_maintenance(svc)
    assert h.verify(records) == {"batchItemFailures": []}
    answer = h.client.post(f"/packages/{created['package_id']}/finalize", headers=AUTH)
    assert answer.status_code == 200, answer.text
    assert svc.storage(backend).has_blob(_blob(swept))
    # The leased blob outlived that round; once the lease ends a sweep may take it.
    assert svc.storage(backend).has_blob(_blob(leased))
    assert svc.catalog.tombstone_blob(backend, _blob(leased), cutoff, later + timedelta(hours=2))
