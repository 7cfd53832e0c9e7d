"""10,000-file packages: created, paged, sealed, under DynamoDB's 400 KB item limit."""

from __future__ import annotations

import time
import uuid

import pytest

from tests.integration.conftest import Configured
from tests.integration.flow import AUTH, Harness, digest_of, expected_manifest_digest, run_metadata

COUNT = 10_000


@pytest.mark.parametrize("configured", ["local"], indirect=True)
def test_ten_thousand_files_page_their_files_and_upload_targets(configured: Configured) -> None:
    h = Harness.start(configured)
    nonce = uuid.uuid4().hex
    # 1,001 distinct blobs, so the upload targets come in two pages (1,000 per answer).
    shared = f"shared {nonce}".encode()
    files = {
        f"cases/{i // 100:03}/case-{i:05}.json": f"{nonce} {i}".encode() if i < 1000 else shared
        for i in range(COUNT)
    }
    started = time.perf_counter()
    created = h.create(str(uuid.uuid4()), files)
    print(f"\n10,000-file POST /packages (in-process moto): {time.perf_counter() - started:.2f} s")
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["file_count"] == COUNT
    assert body["missing_blobs"] == 1001
    assert len(body["upload_targets"]) == 1000
    package_id = body["package_id"]

    targets = list(body["upload_targets"])
    cursor = body["next_upload_targets_cursor"]
    while cursor:
        page = h.client.get(
            f"/packages/{package_id}/upload-targets", params={"cursor": cursor}, headers=AUTH
        ).json()
        targets.extend(page["upload_targets"])
        cursor = page["next_cursor"]
    assert sorted(t["digest"] for t in targets) == sorted({digest_of(d) for d in files.values()})

    paths: list[str] = []
    files_cursor = None
    while True:
        params = {"files_limit": 2500, **({"files_cursor": files_cursor} if files_cursor else {})}
        view = h.client.get(f"/packages/{package_id}", params=params, headers=AUTH).json()
        paths.extend(f["path"] for f in view["files"])
        files_cursor = view["next_files_cursor"]
        if not files_cursor:
            break
    assert paths == sorted(files, key=lambda p: p.encode())


@pytest.mark.parametrize("configured", ["local"], indirect=True)
def test_ten_thousand_files_seal_with_the_contract_digest(configured: Configured) -> None:
    h = Harness.start(configured)
    nonce = uuid.uuid4().hex
    blobs = [f"{nonce} {k}".encode() for k in range(3)]
    files = {f"logs/{i:05}.log": blobs[i % 3] for i in range(COUNT)}
    key = str(uuid.uuid4())
    created = h.create(key, files).json()
    assert created["missing_blobs"] == 3
    by_digest = {digest_of(b): b for b in blobs}
    for target in created["upload_targets"]:
        h.upload(target, by_digest[target["digest"]])
    h.pump()
    started = time.perf_counter()
    finalized = h.client.post(f"/packages/{created['package_id']}/finalize", headers=AUTH)
    print(f"\n10,000-file finalize and seal: {time.perf_counter() - started:.2f} s")
    assert finalized.status_code == 200, finalized.text
    assert finalized.json()["manifest_digest"] == expected_manifest_digest(
        key, run_metadata(key), files
    )
    manifest = h.client.get(f"/packages/{created['package_id']}/manifest", headers=AUTH)
    assert digest_of(manifest.content) == finalized.json()["manifest_digest"]
