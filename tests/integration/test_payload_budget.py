"""Lambda's 6 MB payload: every answer that carries presigned URLs stays within the byte budget.

On Lambda every presigned URL carries ``X-Amz-Security-Token`` (about 1.6-1.7 KB a URL). The
API here gets a 1,200-character fake session token (moto takes any), so its URLs are as long,
and these tests check that no answer passes ``targets.RESPONSE_BUDGET`` while every blob and
every part of a multipart upload is still handed out exactly once: a 1 TiB and a 5 TiB file,
a 10,000-file package with a few big files, and the real client uploading through paged parts.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from localdev.stack import LocalStack

from artifactstore.api.app import create_app
from artifactstore.client.api import ApiClient
from artifactstore.client.ingest import _store, creation_body
from artifactstore.client.uploader import NoProgress
from artifactstore.client.uploads import LocalBlob
from artifactstore.domain.digests import Digest
from artifactstore.domain.manifest import FileEntry
from artifactstore.service import targets
from artifactstore.service.factory import services
from artifactstore.settings import service_settings
from tests.integration.conftest import Configured, configure
from tests.integration.flow import (
    AUTH,
    Harness,
    digest_of,
    expected_manifest_digest,
    run_metadata,
)

TiB = 1024**4
GiB = 1024**3
MiB = 1024**2
BUDGET = 4_000_000  # "about 4 MB": well inside Lambda's 6 MB, whatever Mangum adds
# As long as an STS session token on Lambda: presigned URLs then carry ~1.7 KB, as there.
LAMBDA_LIKE_TOKEN = "IQoJb3JpZ2luX2VjE" + "x" * 1183


@pytest.fixture
def cfg(big_stack: LocalStack, tmp_path: Path) -> Iterator[Configured]:
    """Every package on S3, the API's credentials carrying a Lambda-sized session token.

    On ``big_stack``: these drafts (10,000 pending blobs, 1 and 5 TiB multipart uploads) are
    left unfinished, and the maintenance tests' rounds on ``stack`` need not walk them."""
    saved = dict(os.environ)
    try:
        yield configure(
            big_stack, tmp_path / "storage", "*:*=s3", AWS_SESSION_TOKEN=LAMBDA_LIKE_TOKEN
        )
    finally:
        os.environ.clear()
        os.environ.update(saved)
        service_settings.cache_clear()
        services.cache_clear()


def _body(key: str, files: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "producer": "guide-board",
        "idempotency_key": key,
        "retention_class": "ephemeral",
        "schema": "guide-board.run.v1",
        "metadata": run_metadata(key),
        "files": files,
    }


def _within_budget(answer: Any) -> dict[str, Any]:
    assert answer.status_code in (200, 201), answer.text
    assert len(answer.content) <= BUDGET, f"{len(answer.content)} bytes over {BUDGET}"
    body: dict[str, Any] = answer.json()
    return body


def _all_parts(h: Harness, package_id: str, target: dict[str, Any]) -> list[dict[str, Any]]:
    """The target's own parts, then every page of its parts route, each answer in budget."""
    parts = list(target["parts"])
    cursor = target["next_parts_cursor"]
    digest = quote(target["digest"], safe="")
    pages = 0
    while cursor is not None:
        page = _within_budget(
            h.client.get(
                f"/packages/{package_id}/upload-targets/{digest}/parts",
                params={"upload_id": target["upload_id"], "cursor": cursor},
                headers=AUTH,
            )
        )
        assert page["upload_id"] == target["upload_id"]
        assert page["part_count"] == target["part_count"]
        assert page["parts"], "a page with a cursor must carry parts"
        parts.extend(page["parts"])
        cursor = page["next_cursor"]
        pages += 1
        assert pages <= 10_000
    return parts


def _check_parts(target: dict[str, Any], parts: list[dict[str, Any]]) -> None:
    """Every part number 1..N exactly once, contiguous, covering the blob; N <= 10,000."""
    count = target["part_count"]
    assert 1 <= count <= 10_000
    numbers = [p["part_number"] for p in parts]
    assert sorted(numbers) == list(range(1, count + 1)), "each part exactly once"
    offset = 0
    for part in sorted(parts, key=lambda p: p["part_number"]):
        assert part["offset"] == offset
        assert part["size"] > 0
        assert f"uploadId={quote(target['upload_id'], safe='')}" in part["url"] or (
            target["upload_id"] in part["url"]
        )
        offset += part["size"]
    assert offset == target["size"]


def test_urls_are_as_long_as_on_lambda(cfg: Configured) -> None:
    h = Harness.start(cfg)
    key = str(uuid.uuid4())
    created = h.create(key, {"a.txt": key.encode()})
    assert created.status_code == 201, created.text
    url = created.json()["upload_targets"][0]["url"]
    assert "X-Amz-Security-Token=" in url
    assert len(url) >= 1600, len(url)


@pytest.mark.parametrize("size", [TiB, 5 * TiB], ids=["1TiB", "5TiB"])
def test_a_huge_file_pages_its_part_urls_within_the_budget(cfg: Configured, size: int) -> None:
    h = Harness.start(cfg)
    key = str(uuid.uuid4())
    files = [{"path": "huge.bin", "size": size, "digest": digest_of(key.encode())}]
    created = _within_budget(h.client.post("/packages", json=_body(key, files), headers=AUTH))
    (target,) = created["upload_targets"]
    assert target["part_count"] > len(target["parts"]) >= 1
    assert target["next_parts_cursor"] == str(len(target["parts"]) + 1)
    assert target["part_size"] * 10_000 >= size
    assert "X-Amz-Security-Token=" in target["parts"][0]["url"]
    parts = _all_parts(h, created["package_id"], target)
    _check_parts(target, parts)
    print(
        f"\n{size // TiB} TiB: {target['part_count']} parts of {target['part_size'] // MiB} MiB, "
        f"first answer {len(target['parts'])} parts"
    )

    # Resuming (the same POST again) and the upload-targets route answer in budget too.
    resumed = _within_budget(h.client.post("/packages", json=_body(key, files), headers=AUTH))
    assert resumed["upload_targets"][0]["upload_id"] != target["upload_id"]
    listed = _within_budget(
        h.client.get(f"/packages/{created['package_id']}/upload-targets", headers=AUTH)
    )
    _check_parts(
        listed["upload_targets"][0],
        _all_parts(h, created["package_id"], listed["upload_targets"][0]),
    )


def test_parts_route_refuses_what_it_cannot_answer(cfg: Configured) -> None:
    h = Harness.start(cfg)
    key = str(uuid.uuid4())
    files = [{"path": "huge.bin", "size": TiB, "digest": digest_of(key.encode())}]
    created = _within_budget(h.client.post("/packages", json=_body(key, files), headers=AUTH))
    target = created["upload_targets"][0]
    url = f"/packages/{created['package_id']}/upload-targets/{quote(target['digest'])}/parts"
    upload = {"upload_id": target["upload_id"]}
    for cursor in ("0", "abc", str(target["part_count"] + 1), "-1"):
        answer = h.client.get(url, params={**upload, "cursor": cursor}, headers=AUTH)
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"]["code"] == "invalid_cursor"
    last = h.client.get(url, params={**upload, "cursor": str(target["part_count"])}, headers=AUTH)
    assert [p["part_number"] for p in last.json()["parts"]] == [target["part_count"]]
    assert last.json()["next_cursor"] is None
    other = digest_of(b"not listed " + key.encode())
    missing = h.client.get(
        f"/packages/{created['package_id']}/upload-targets/{other}/parts",
        params=upload,
        headers=AUTH,
    )
    assert missing.status_code == 422
    assert missing.json()["error"]["code"] == "blob_not_listed"
    no_upload = h.client.get(url, headers=AUTH)
    assert no_upload.status_code == 422
    unknown = h.client.get(
        f"/packages/{uuid.uuid4()}/upload-targets/{quote(target['digest'])}/parts",
        params=upload,
        headers=AUTH,
    )
    assert unknown.status_code == 404


def test_ten_thousand_files_with_big_ones_page_within_the_budget(cfg: Configured) -> None:
    h = Harness.start(cfg)
    key = str(uuid.uuid4())
    files: list[dict[str, Any]] = [
        {"path": f"cases/{i // 100:03}/case-{i:05}.json", "size": 100 + i % 7, "digest": ""}
        for i in range(9_995)
    ]
    # Five files of 30 GiB (3,840 part URLs each): 1,000 targets with these in one page was
    # ~35 MB before budgeting; now the page ends early and the parts are paged.
    files += [{"path": f"big/{i}.bin", "size": 30 * GiB, "digest": ""} for i in range(5)]
    for i, f in enumerate(files):
        f["digest"] = digest_of(f"{key} {i}".encode())
    created = _within_budget(h.client.post("/packages", json=_body(key, files), headers=AUTH))
    assert created["missing_blobs"] == len(files)
    package_id = created["package_id"]
    sizes = [len(h.client.post("/packages", json=_body(key, files), headers=AUTH).content)]

    seen: list[str] = []
    multipart = 0
    page: dict[str, Any] = created
    cursor = created["next_upload_targets_cursor"]
    pages = 1
    while True:
        for target in page["upload_targets"]:
            seen.append(target["digest"])
            if "parts" in target:
                multipart += 1
                _check_parts(target, _all_parts(h, package_id, target))
        if cursor is None:
            break
        answer = h.client.get(
            f"/packages/{package_id}/upload-targets", params={"cursor": cursor}, headers=AUTH
        )
        sizes.append(len(answer.content))
        page = _within_budget(answer)
        cursor = page["next_cursor"]
        pages += 1
    assert sorted(seen) == sorted(f["digest"] for f in files), "every blob exactly once"
    assert multipart == 5
    assert max(sizes) <= BUDGET
    print(f"\n10,000 files on S3: {pages} target pages, largest answer {max(sizes)} bytes")


def test_bundles_answer_within_the_budget(cfg: Configured) -> None:
    h = Harness.start(cfg)
    key = str(uuid.uuid4())
    files = [
        {"path": f"f/{i:04}", "size": 10, "digest": digest_of(f"{key} {i}".encode())}
        for i in range(1000)
    ]
    body = {**_body(key, files), "bundle_below": 1024}
    created = _within_budget(h.client.post("/packages", json=body, headers=AUTH))
    assert len(created["bundle_blobs"]) == 1000
    blobs = [b["digest"] for b in created["bundle_blobs"]]
    bundle = h.client.post(
        f"/packages/{created['package_id']}/bundles", json={"blobs": blobs}, headers=AUTH
    )
    assert bundle.status_code == 201, bundle.text
    assert len(bundle.content) <= BUDGET


# -- the real client, uploading through paged targets and paged parts ----------------------


@pytest.fixture
def small_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """Budgets small enough that an 81 MiB file's parts and 60 files' targets take many pages."""
    monkeypatch.setattr(targets, "RESPONSE_BUDGET", 6_000)
    monkeypatch.setattr(targets, "PAGE_BUDGET", 9_000)
    monkeypatch.setattr(targets, "TARGET_ROOM", 2_500)


REQUEST_BYTES = 4_000  # the client's request budget in the test: the list goes in parts


def _client_on(app_client: TestClient) -> ApiClient:
    """The CLI's ApiClient, its API calls going to the app in process, its uploads to moto."""
    client = ApiClient(
        "http://testserver", None, retries=0, files_per_request=1000, request_bytes=REQUEST_BYTES
    )
    client._api.close()
    app_client.headers.update(AUTH)
    client._api = app_client
    return client


def test_the_client_uploads_everything_through_paged_targets_and_parts(
    cfg: Configured, tmp_path: Path, small_budget: None
) -> None:
    h = Harness.start(cfg)
    key = str(uuid.uuid4())
    run = tmp_path / "run"
    run.mkdir()
    contents = {f"logs/{i:03}.log": f"{key} line {i}\n".encode() * 3 for i in range(60)}
    contents["big.bin"] = os.urandom(81 * MiB)  # 11 parts of 8 MiB (the threshold is 5 MiB)
    entries: list[FileEntry] = []
    blobs: dict[str, LocalBlob] = {}
    for path, data in sorted(contents.items()):
        (run / path).parent.mkdir(parents=True, exist_ok=True)
        (run / path).write_bytes(data)
        digest = Digest.parse(digest_of(data))
        entries.append(FileEntry(path, len(data), digest))
        blobs[str(digest)] = LocalBlob(path, run / path, len(data), digest)
    metadata = run_metadata(key)
    body = creation_body(key, "release-evidence", "guide-board.run.v1", metadata, entries, run, {})

    calls: list[tuple[str, int]] = []
    app_client = TestClient(create_app())

    def record(response: Any) -> None:
        response.read()
        calls.append((response.request.url.path, len(response.content)))

    sent_bodies: list[tuple[str, int]] = []

    def record_request(request: Any) -> None:
        sent_bodies.append((request.url.path, len(request.content)))

    app_client.event_hooks["request"] = [record_request]
    app_client.event_hooks["response"] = [record]
    with _client_on(app_client) as client:
        package_id, answer, sent = _store(client, body, blobs, 4, NoProgress(), print)
    assert answer["files_complete"] is True
    assert sent == sum(len(d) for d in contents.values())
    part_pages = [n for path, n in calls if path.endswith("/parts")]
    target_pages = [n for path, n in calls if path.endswith("/upload-targets")]
    file_parts = [n for path, n in calls if path.endswith("/files")]
    assert len(part_pages) >= 2, calls
    assert len(target_pages) >= 5, calls
    assert len(file_parts) >= 2, calls  # the file list went in parts
    assert max(n for _path, n in sent_bodies) <= REQUEST_BYTES
    assert max(part_pages) <= 6_000

    h.pump()
    finalized = h.client.post(f"/packages/{package_id}/finalize", headers=AUTH)
    assert finalized.status_code == 200, finalized.text
    assert finalized.json()["manifest_digest"] == expected_manifest_digest(key, metadata, contents)
