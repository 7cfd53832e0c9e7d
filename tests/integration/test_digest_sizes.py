"""One digest, one size: a manifest never states a size no byte matched (issue 14, item 5).

A BLAKE3 digest determines its bytes, so their length: a list giving one digest two sizes, or a
size other than the one the backend verified, is refused before anything is stored; and an
upload for a size no verified bytes have is hashed (and rejected), never taken as held.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import rfc8785
from localdev.stack import LocalStack

from tests.integration import api_support
from tests.integration.api_support import Api, assert_error, package_body
from tests.integration.flow import AUTH, Harness, digest_of, run_metadata
from tests.integration.test_api_bad_input import refused_without_storing
from tests.integration.test_catalog_chunks import partition

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def api(stack: LocalStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """guide-board on S3, lab on the local folder; the pilot schema registered."""
    for configured in api_support.api_for(stack, tmp_path_factory.mktemp("digest-sizes")):
        configured.register_pilot_schema()
        yield configured


def entry(path: str, data: bytes, size: int | None = None) -> dict[str, Any]:
    return {"path": path, "size": len(data) if size is None else size, "digest": digest_of(data)}


def ingest(api: Api, files: dict[str, bytes]) -> str:
    """A guide-board package through its whole life; returns its id."""
    h = Harness(api.cfg, api.client)
    body = package_body(files=[entry(p, d) for p, d in files.items()])
    created = api.post("/packages", body)
    assert created.status_code == 201, created.text
    by_digest = {digest_of(d): d for d in files.values()}
    for target in created.json()["upload_targets"]:
        h.upload(target, by_digest[target["digest"]])
    h.pump()
    package_id: str = created.json()["package_id"]
    sealed = api.client.post(f"/packages/{package_id}/finalize", headers=AUTH)
    assert sealed.status_code == 200 and sealed.json()["state"] == "sealed", sealed.text
    return package_id


def manifest_digest(key: str, files: list[dict[str, Any]]) -> str:
    """The contract digest of a guide-board list, straight from rfc8785 and blake3."""
    manifest: dict[str, Any] = {
        "manifest_version": 1,
        "producer": "guide-board",
        "idempotency_key": key,
        "schema": "guide-board.run.v1",
        "metadata": run_metadata(key),
        "files": sorted(files, key=lambda f: f["path"].encode()),
    }
    return digest_of(rfc8785.dumps(manifest))


def in_parts(
    key: str, files: list[dict[str, Any]], count: int, digest: str | None = None
) -> dict[str, Any]:
    """A ``POST /packages`` body carrying the first part of a list of ``count`` files."""
    return {
        "producer": "guide-board",
        "idempotency_key": key,
        "retention_class": "ephemeral",
        "schema": "guide-board.run.v1",
        "metadata": run_metadata(key),
        "files": files,
        "file_count": count,
        "manifest_digest": digest or digest_of(key.encode()),
    }


def test_one_digest_at_two_sizes_in_one_list_is_refused(api: Api) -> None:
    data = uuid.uuid4().bytes
    body = package_body(files=[entry("a.bin", data), entry("b.bin", data, len(data) + 1)])
    error = refused_without_storing(
        api, lambda: api.post("/packages", body), 422, "digest_size_conflict"
    )
    assert error["details"]["digest"] == digest_of(data)
    assert error["details"]["sizes"] == [len(data), len(data) + 1]


def test_one_digest_at_two_sizes_in_one_part_is_refused(api: Api) -> None:
    first = api.post("/packages", in_parts(str(uuid.uuid4()), [entry("x", b"x")], 4))
    assert first.status_code == 201, first.text
    data = uuid.uuid4().bytes
    part = {"files": [entry("a.bin", data), entry("b.bin", data, 99)]}
    url = f"/packages/{first.json()['package_id']}/files"
    error = refused_without_storing(api, lambda: api.post(url, part), 422, "digest_size_conflict")
    assert error["details"]["sizes"] == [len(data), 99]


def test_one_digest_at_two_sizes_across_parts_is_refused_at_completion(api: Api) -> None:
    data = uuid.uuid4().bytes
    created = api.post("/packages", in_parts(str(uuid.uuid4()), [entry("a.bin", data)], 2))
    assert created.status_code == 201, created.text
    package_id = created.json()["package_id"]
    last = {"files": [entry("b.bin", data, len(data) + 7)], "complete": True}

    error = assert_error(
        api.post(f"/packages/{package_id}/files", last), 422, "digest_size_conflict"
    )

    assert error["details"]["digest"] == digest_of(data)
    assert error["details"]["sizes"] == [len(data), len(data) + 7]
    assert partition(api.cfg, package_id) == {"PKG": 1}  # parts dropped, nothing opened
    view = api.client.get(f"/packages/{package_id}", headers=AUTH).json()
    assert view["blob_count"] == 0


def test_a_held_digest_listed_at_another_size_is_refused(api: Api) -> None:
    data = uuid.uuid4().bytes * 3
    ingest(api, {"run.json": b"{}" + uuid.uuid4().bytes, "held.bin": data})
    wrong = package_body(files=[entry("held.bin", data, len(data) + 1)])

    error = refused_without_storing(
        api, lambda: api.post("/packages", wrong), 422, "digest_size_mismatch"
    )

    assert error["details"] == {
        "digest": digest_of(data),
        "size": len(data) + 1,
        "recorded_size": len(data),
    }


def test_a_held_digest_listed_at_another_size_in_parts_is_refused_at_completion(
    api: Api,
) -> None:
    data = uuid.uuid4().bytes * 5
    ingest(api, {"run.json": b"{}" + uuid.uuid4().bytes, "held.bin": data})
    key, first, rest = str(uuid.uuid4()), [entry("x", b"x")], [entry("held.bin", data, 3)]
    created = api.post("/packages", in_parts(key, first, 2, manifest_digest(key, first + rest)))
    package_id = created.json()["package_id"]
    last = {"files": rest, "complete": True}

    error = assert_error(
        api.post(f"/packages/{package_id}/files", last), 422, "digest_size_mismatch"
    )

    assert error["details"]["recorded_size"] == len(data) and error["details"]["size"] == 3
    assert partition(api.cfg, package_id) == {"PKG": 1}


def test_an_upload_at_a_size_no_verified_bytes_have_is_rejected_not_taken_as_held(
    api: Api,
) -> None:
    h = Harness(api.cfg, api.client)
    data = uuid.uuid4().bytes * 2
    wrong_size = len(data) + 1
    # A draft listing the digest at a wrong size while the backend does not hold it yet.
    draft = api.post("/packages", package_body(files=[entry("d.bin", data, wrong_size)]))
    assert draft.status_code == 201, draft.text
    target = draft.json()["upload_targets"][0]
    # Then another package verifies the real bytes (at their real size).
    ingest(api, {"run.json": b"{}" + uuid.uuid4().bytes, "d.bin": data})

    h.upload(target, b"\0" * wrong_size)  # bytes of the size the draft claims
    h.pump()

    package_id = draft.json()["package_id"]
    finalize = api.client.post(f"/packages/{package_id}/finalize", headers=AUTH)
    assert_error(finalize, 409, "files_rejected")
    view = api.client.get(f"/packages/{package_id}", headers=AUTH).json()
    assert view["state"] == "draft"
    assert [f["status"] for f in view["files"] if f["path"] == "d.bin"] == ["rejected"]
