"""The package life end to end through the API, real uploads, S3/SQS events and the verifier."""

from __future__ import annotations

import json
import uuid

from artifactstore.domain.digests import Digest
from tests.integration.conftest import Configured
from tests.integration.flow import (
    AUTH,
    Harness,
    digest_of,
    expected_manifest_digest,
    run_metadata,
)
from tests.lambda_runtime import receive_all


def unique(text: str) -> bytes:
    """Bytes no other test stored: blobs are shared by every package of a backend."""
    return f"{text} {uuid.uuid4()}".encode()


def run_files() -> dict[str, bytes]:
    """A small run with a duplicate, an empty file, a hidden folder and a non-ASCII name."""
    log = unique("line 1\nline 2\n")
    return {
        "run.json": unique('{"run_id": "r"}'),
        "logs/run.log": log,
        "logs/copy.log": log,  # same bytes: one blob, two files
        ".guide-board/state": b"",
        "evidence/\u00e9t\u00e9.txt": unique("été"),
    }


def test_draft_upload_verify_finalize_seal_and_reuse(configured: Configured) -> None:
    h = Harness.start(configured)
    files = run_files()
    key = str(uuid.uuid4())
    created = h.create(key, files)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["state"] == "draft" and body["reused_existing"] is False
    assert body["missing_blobs"] == 4 - configured.svc.storage(body["backend"]).has_blob(
        Digest.parse(digest_of(b""))
    )
    targets = {t["digest"]: t for t in body["upload_targets"]}
    assert set(targets) <= {digest_of(d) for d in files.values()}
    for data in {digest_of(d): d for d in files.values()}.items():
        if data[0] in targets:
            h.upload(targets[data[0]], data[1])
    assert h.pump() == len(targets)

    finalized = h.client.post(f"/packages/{body['package_id']}/finalize", headers=AUTH)
    assert finalized.status_code == 200, finalized.text
    sealed = finalized.json()
    expected = expected_manifest_digest(key, run_metadata(key), files)
    assert sealed["state"] == "sealed"
    assert sealed["manifest_digest"] == expected

    manifest = h.client.get(f"/packages/{body['package_id']}/manifest", headers=AUTH)
    assert manifest.status_code == 200
    assert digest_of(manifest.content) == expected
    assert manifest.headers["x-manifest-digest"] == expected

    again = h.create(key, files)
    assert again.status_code == 200
    assert again.json()["reused_existing"] is True
    assert again.json()["package_id"] == body["package_id"]
    assert again.json()["upload_targets"] == []

    other = h.create(key, {**files, "extra.txt": b"x"})
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "idempotency_conflict"
    assert other.json()["error"]["details"]["package_id"] == body["package_id"]


def test_known_blobs_are_never_uploaded_again(configured: Configured) -> None:
    h = Harness.start(configured)
    shared, meta, new = unique("shared"), unique("{}"), unique("new")
    first = h.create(str(uuid.uuid4()), {"a.txt": shared, "run.json": meta}).json()
    by_digest = {digest_of(shared): shared, digest_of(meta): meta}
    for t in first["upload_targets"]:
        h.upload(t, by_digest[t["digest"]])
    h.pump()
    finalized = h.client.post(f"/packages/{first['package_id']}/finalize", headers=AUTH)
    assert finalized.status_code == 200

    second = h.create(str(uuid.uuid4()), {"b.txt": shared, "run.json": meta, "new": new})
    assert second.status_code == 201
    assert [t["digest"] for t in second.json()["upload_targets"]] == [digest_of(new)]


def test_tampered_upload_is_rejected_then_the_right_bytes_seal(configured: Configured) -> None:
    h = Harness.start(configured)
    files = {"run.json": unique("{}"), "data.bin": unique("0" * 64)}
    key = str(uuid.uuid4())
    created = h.create(key, files).json()
    package_id = created["package_id"]
    targets = {t["digest"]: t for t in created["upload_targets"]}
    h.upload(targets[digest_of(files["run.json"])], files["run.json"])
    good = files["data.bin"]
    tampered = bytes([good[0] ^ 1]) + good[1:]  # one bit flipped, same size
    h.upload(targets[digest_of(files["data.bin"])], tampered)
    h.pump()

    refused = h.client.post(f"/packages/{package_id}/finalize", headers=AUTH)
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["code"] == "files_rejected"
    assert error["details"]["rejected"] == [
        {"path": "data.bin", "digest": digest_of(good), "seen_digest": digest_of(tampered)}
    ]
    view = h.client.get(f"/packages/{package_id}", headers=AUTH).json()
    assert view["state"] == "draft"
    status = {f["path"]: f["status"] for f in view["files"]}
    assert status == {"data.bin": "rejected", "run.json": "verified"}
    storage = configured.svc.storage(view["backend"])
    assert not storage.has_blob(Digest.parse(digest_of(tampered)))
    assert not storage.has_blob(Digest.parse(digest_of(files["data.bin"])))

    resumed = h.create(key, files)
    assert resumed.status_code == 200
    retry = resumed.json()["upload_targets"]
    assert [t["digest"] for t in retry] == [digest_of(files["data.bin"])]
    h.upload(retry[0], files["data.bin"])
    h.pump()  # the last verification seals: finalize was already requested
    view = h.client.get(f"/packages/{package_id}", headers=AUTH).json()
    assert view["state"] == "sealed"
    assert view["manifest_digest"] == expected_manifest_digest(key, run_metadata(key), files)


def test_seal_event_reaches_the_bus_once(configured: Configured) -> None:
    h = Harness.start(configured)
    files = {"run.json": unique("{}")}
    created = h.create(str(uuid.uuid4()), files).json()
    h.upload(created["upload_targets"][0], files["run.json"])
    h.pump()
    first = h.client.post(f"/packages/{created['package_id']}/finalize", headers=AUTH)
    second = h.client.post(f"/packages/{created['package_id']}/finalize", headers=AUTH)
    assert first.status_code == second.status_code == 200
    assert first.json()["manifest_digest"] == second.json()["manifest_digest"]
    events = [
        json.loads(m["Body"])
        for m in receive_all(configured.stack.linker_queue_url)
        if created["package_id"] in m["Body"]
    ]
    assert len(events) == 1
    assert events[0]["source"] == "artifactstore"
    assert events[0]["detail-type"] == "ArtifactPackageSealed"
    assert events[0]["detail"]["manifest_digest"] == first.json()["manifest_digest"]
