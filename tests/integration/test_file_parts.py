"""File lists too big for one request: sent in parts, completed once, then uploaded."""

from __future__ import annotations

import uuid
from typing import Any

from tests.integration.conftest import Configured
from tests.integration.flow import (
    AUTH,
    Harness,
    digest_of,
    expected_manifest_digest,
    run_metadata,
)


def entries(files: dict[str, bytes]) -> list[dict[str, Any]]:
    """File entries as a client declares them."""
    return [{"path": p, "size": len(d), "digest": digest_of(d)} for p, d in files.items()]


def first_part(key: str, part: dict[str, bytes], count: int, digest: str) -> dict[str, Any]:
    """A ``POST /packages`` body carrying the first part of a list."""
    return {
        "producer": "guide-board",
        "idempotency_key": key,
        "retention_class": "release-evidence",
        "schema": "guide-board.run.v1",
        "metadata": run_metadata(key),
        "files": entries(part),
        "file_count": count,
        "manifest_digest": digest,
    }


def test_a_list_in_three_parts_completes_once_and_seals(configured: Configured) -> None:
    h = Harness.start(configured)
    nonce = uuid.uuid4().hex
    files = {f"part/{i:03}.txt": f"{nonce} {i % 7}".encode() for i in range(30)}
    key = str(uuid.uuid4())
    digest = expected_manifest_digest(key, run_metadata(key), files)
    names = sorted(files)
    parts = [{n: files[n] for n in names[i : i + 10]} for i in range(0, 30, 10)]

    created = h.client.post("/packages", json=first_part(key, parts[0], 30, digest), headers=AUTH)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["files_complete"] is False and body["upload_targets"] == []
    package_id = body["package_id"]
    url = f"/packages/{package_id}/files"

    # The same first part again resumes the same draft (a client restarted mid-list).
    again = h.client.post("/packages", json=first_part(key, parts[0], 30, digest), headers=AUTH)
    assert again.status_code == 200 and again.json()["package_id"] == package_id
    middle = h.client.post(url, json={"files": entries(parts[1])}, headers=AUTH)
    assert middle.status_code == 200 and middle.json()["upload_targets"] == []
    assert h.client.post(url, json={"files": entries(parts[1])}, headers=AUTH).status_code == 200

    last = h.client.post(url, json={"files": entries(parts[2]), "complete": True}, headers=AUTH)
    assert last.status_code == 200, last.text
    done = last.json()
    assert done["files_complete"] is True and done["missing_blobs"] == 7
    by_digest = {digest_of(d): d for d in files.values()}
    for target in done["upload_targets"]:
        h.upload(target, by_digest[target["digest"]])
    h.pump()
    sealed = h.client.post(f"/packages/{package_id}/finalize", headers=AUTH)
    assert sealed.status_code == 200, sealed.text
    assert sealed.json()["manifest_digest"] == digest
    assert sealed.json()["file_count"] == 30


def test_a_list_that_does_not_give_the_declared_digest_never_opens(
    configured: Configured,
) -> None:
    h = Harness.start(configured)
    files = {f"f{i}": f"{uuid.uuid4()}".encode() for i in range(4)}
    key = str(uuid.uuid4())
    wrong = digest_of(b"not this manifest")
    part = dict(list(files.items())[:2])
    created = h.client.post("/packages", json=first_part(key, part, 4, wrong), headers=AUTH)
    assert created.status_code == 201
    url = f"/packages/{created.json()['package_id']}/files"
    rest = dict(list(files.items())[2:])

    short = h.client.post(url, json={"files": [], "complete": True}, headers=AUTH)
    assert short.status_code == 422
    assert short.json()["error"]["code"] == "file_count_mismatch"

    # A failed completion drops every part received: the whole list is sent again.
    assert h.client.post(url, json={"files": entries(part)}, headers=AUTH).status_code == 200
    refused = h.client.post(url, json={"files": entries(rest), "complete": True}, headers=AUTH)
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "manifest_mismatch"
    view = h.client.get(f"/packages/{created.json()['package_id']}", headers=AUTH).json()
    assert view["state"] == "draft"
    assert view["blob_count"] == 0  # nothing opened for upload


def test_an_inline_list_with_a_wrong_declared_digest_is_refused_and_nothing_stored(
    configured: Configured,
) -> None:
    h = Harness.start(configured)
    files = {"a": f"{uuid.uuid4()}".encode()}
    key = str(uuid.uuid4())
    body = first_part(key, files, 1, digest_of(b"wrong"))
    answer = h.client.post("/packages", json=body, headers=AUTH)
    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "manifest_mismatch"
    listed = h.client.get("/packages", params={"producer": "guide-board", "key": key}, headers=AUTH)
    assert listed.json()["items"] == []
