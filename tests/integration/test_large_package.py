"""A 10,000-file package: created, paged, sealed, under DynamoDB's 400 KB item limit."""

from __future__ import annotations

import time
import uuid

import pytest

from tests.integration.conftest import Configured
from tests.integration.flow import AUTH, Harness, digest_of, expected_manifest_digest, run_metadata

COUNT = 10_000


@pytest.mark.parametrize("configured", ["local"], indirect=True)
def test_ten_thousand_files_create_page_and_seal(configured: Configured) -> None:
    h = Harness.start(configured)
    nonce = uuid.uuid4().hex
    # 1,001 distinct blobs (two pages of upload targets): 1,000 files, then one shared blob.
    shared = f"shared {nonce}".encode()
    files = {
        f"cases/{i // 100:03}/case-{i:05}.json": (f"{nonce} {i}".encode() if i < 1000 else shared)
        for i in range(COUNT)
    }
    key = str(uuid.uuid4())
    started = time.perf_counter()
    created = h.create(key, files)
    create_seconds = time.perf_counter() - started
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
    assert len({t["digest"] for t in targets}) == 1001

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

    by_digest = {digest_of(d): d for d in files.values()}
    started = time.perf_counter()
    for t in targets:
        h.upload(t, by_digest[t["digest"]])
    h.pump()
    verify_seconds = time.perf_counter() - started
    started = time.perf_counter()
    finalized = h.client.post(f"/packages/{package_id}/finalize", headers=AUTH)
    assert finalized.status_code == 200, finalized.text
    assert finalized.json()["manifest_digest"] == expected_manifest_digest(
        key, run_metadata(key), files
    )
    seal_seconds = time.perf_counter() - started
    print(
        f"\n10,000 files: POST /packages {create_seconds:.2f} s; 1,001 uploads verified "
        f"{verify_seconds:.2f} s; finalize and seal {seal_seconds:.2f} s"
    )
