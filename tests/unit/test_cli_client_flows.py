"""The client library (ingest, download, schemas, errors) against the in-memory contract fake."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import httpx
import pytest

from artifactstore.client.api import ApiClient
from artifactstore.client.download import PARTIAL_DIR, download_package
from artifactstore.client.ingest import ingest_run
from artifactstore.client.manifests import fetch_manifest
from artifactstore.domain.rundir import scan_run_directory
from artifactstore.errors import (
    AuthError,
    Conflict,
    IntegrityError,
    InvalidInput,
    NotFound,
    ServerError,
)
from tests.unit.cli_fake_api import TOKEN, FakeApi

REPO = Path(__file__).resolve().parents[2]
SCHEMA = REPO / "schemas" / "guide-board.run.v1.json"


def make_run(root: Path, run_id: str = "run-1", big: bytes = b"") -> Path:
    """A finalized run with nested, hidden, empty, executable and duplicate-content files."""
    root.mkdir(parents=True)
    run = {
        "run_id": run_id,
        "target_profile_ref": "t",
        "assessment_profile_ref": "a",
        "result_status": "passed",
        "extra": {"n": 1},
    }
    (root / "run.json").write_text(json.dumps(run))
    (root / "logs").mkdir()
    (root / "logs" / "run.log").write_bytes(b"line one\nline two\n")
    (root / "logs" / "copy.log").write_bytes(b"line one\nline two\n")
    (root / ".guide-board").mkdir()
    (root / ".guide-board" / "state").write_bytes(b"")
    tool = root / "tools" / "rerun.sh"
    tool.parent.mkdir()
    tool.write_bytes(b"#!/bin/sh\necho rerun\n")
    tool.chmod(0o755)
    if big:
        (root / "big.bin").write_bytes(big)
    return root


def client_for(api: FakeApi, retries: int = 0) -> ApiClient:
    return ApiClient(api.base_url, TOKEN, retries=retries, backoff=0, transport=api.transport())


def offline_digest(run: Path) -> str:
    return str(scan_run_directory(run).manifest("guide-board.run.v1").digest())


def storage_puts(api: FakeApi) -> int:
    return sum(1 for method, path in api.requests if method == "PUT")


def test_ingest_seals_with_the_offline_digest_and_reingest_sends_nothing(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    api = FakeApi(page_size=2)  # several pages of targets, fetched by cursor
    with client_for(api) as client:
        first = ingest_run(client, run, SCHEMA, environ={})
        puts = storage_puts(api)
        again = ingest_run(client, run, SCHEMA, environ={})
    assert first.manifest_digest == offline_digest(run)
    assert (first.file_count, first.reused_existing) == (5, False)
    # Four distinct contents (two logs share one blob), each uploaded exactly once.
    assert puts == 4
    assert first.bytes_sent == api.bytes_received == sum(len(b) for b in api.blobs.values())
    assert any(path.endswith("/upload-targets") for _m, path in api.requests)
    assert again.to_json() == {**first.to_json(), "reused_existing": True}
    assert again.bytes_sent == 0
    assert storage_puts(api) == puts


def test_creation_carries_run_dir_and_state_hub_link(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    api = FakeApi()
    env = {"STATE_HUB_WORKSTREAM_ID": "ws-1", "STATE_HUB_TASK_ID": "task-1"}
    with client_for(api) as client:
        result = ingest_run(client, run, SCHEMA, environ=env)
    body = api.packages[result.package_id].body
    assert body["run_dir"] == str(run.resolve())
    assert body["links"] == {"state_hub": {"workstream_id": "ws-1", "task_id": "task-1"}}
    assert body["producer"] == "guide-board"
    assert body["retention_class"] == "release-evidence"


def test_multipart_upload_is_completed_and_sealed(tmp_path: Path) -> None:
    big = bytes(range(256)) * 3 + b"tail"
    run = make_run(tmp_path / "run", big=big)
    api = FakeApi(multipart_threshold=100, part_size=64)
    with client_for(api) as client:
        result = ingest_run(client, run, SCHEMA, concurrency=4, environ={})
    assert api.packages[result.package_id].state == "sealed"
    assert any(path.endswith("/multipart/complete") for _m, path in api.requests)
    assert big in api.blobs.values()
    assert result.manifest_digest == offline_digest(run)


def test_file_changed_after_hashing_is_caught_and_nothing_sealed(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    log = run / "tools" / "rerun.sh"
    api = FakeApi()
    # The producer rewrites a file (same size) between hashing and uploading.
    api.on_create = lambda: log.write_bytes(b"#!/bin/sh\necho RERUN\n")
    with client_for(api) as client, pytest.raises(IntegrityError) as caught:
        ingest_run(client, run, SCHEMA, environ={})
    assert caught.value.code == "file_changed"
    assert "tools/rerun.sh" in caught.value.message
    assert [p.state for p in api.packages.values()] == ["draft"]
    assert not any(b.endswith(b"RERUN\n") for b in api.blobs.values())


def test_interrupted_upload_resumes_the_same_package_sending_only_the_rest(
    tmp_path: Path,
) -> None:
    run = make_run(tmp_path / "run")
    api = FakeApi(put_budget=2)
    with client_for(api) as client:
        with pytest.raises(ServerError) as caught:
            ingest_run(client, run, SCHEMA, concurrency=1, environ={})
        assert caught.value.code == "storage_unreachable"
        sent_before = api.bytes_received
        api.put_budget = None
        result = ingest_run(client, run, SCHEMA, environ={})
    assert len(api.packages) == 1 and result.package_id in api.packages
    assert result.bytes_sent == api.bytes_received - sent_before
    assert result.bytes_sent < sum(len(b) for b in api.blobs.values())
    assert result.manifest_digest == offline_digest(run)


def test_changed_run_after_sealing_names_the_package(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    api = FakeApi()
    with client_for(api) as client:
        first = ingest_run(client, run, SCHEMA, environ={})
        (run / "late.txt").write_bytes(b"late")
        with pytest.raises(Conflict) as caught:
            ingest_run(client, run, SCHEMA, environ={})
    assert caught.value.code == "idempotency_conflict"
    assert caught.value.message == (
        f"run run-1 was already stored as package {first.package_id} with different content"
    )
    assert len(api.packages) == 1


def test_registered_schema_with_another_body_is_a_clear_conflict(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    api = FakeApi(schemas={"guide-board.run.v1": {"type": "object"}})
    with client_for(api) as client, pytest.raises(Conflict) as caught:
        ingest_run(client, run, SCHEMA, environ={})
    assert caught.value.code == "schema_conflict"
    assert "guide-board.run.v1" in caught.value.message
    assert api.packages == {}


def test_metadata_failing_the_schema_is_refused_before_any_request(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    meta = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**meta, "result_status": "green"}))
    api = FakeApi()
    with client_for(api) as client, pytest.raises(InvalidInput) as caught:
        ingest_run(client, run, SCHEMA, environ={})
    assert caught.value.code == "metadata_invalid"
    assert api.requests == []


def test_download_round_trip_resume_and_tamper(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    api = FakeApi()
    dest = tmp_path / "dest"
    with client_for(api) as client:
        package_id = ingest_run(client, run, SCHEMA, environ={}).package_id
        first = download_package(client, package_id, dest)
        second = download_package(client, package_id, dest)
        (dest / "logs" / "run.log").unlink()
        api.blobs[next(k for k, v in api.blobs.items() if v.startswith(b"line one"))] = b"evil"
        with pytest.raises(IntegrityError):
            download_package(client, package_id, dest, ["logs/*"])
    for path in ("run.json", "logs/copy.log", ".guide-board/state", "tools/rerun.sh"):
        assert (dest / path).read_bytes() == (run / path).read_bytes()
    assert os.access(dest / "tools" / "rerun.sh", os.X_OK)
    assert not os.access(dest / "run.json", os.X_OK)
    assert (first.downloaded, second.downloaded, second.already_present) == (5, 0, 5)
    # The tampered bytes never reached a final name, and no partial file stays behind.
    assert not (dest / "logs" / "run.log").exists()
    assert not (dest / PARTIAL_DIR).exists()


def test_include_globs_select_files(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    api = FakeApi()
    with client_for(api) as client:
        package_id = ingest_run(client, run, SCHEMA, environ={}).package_id
        result = download_package(client, package_id, tmp_path / "d", ["logs/*", "run.json"])
    assert result.file_count == 3
    assert sorted(str(p.relative_to(tmp_path / "d")) for p in (tmp_path / "d").rglob("*.*")) == [
        "logs/copy.log",
        "logs/run.log",
        "run.json",
    ]


def test_manifest_not_matching_its_digest_is_refused(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    api = FakeApi()
    with client_for(api) as client:
        package_id = ingest_run(client, run, SCHEMA, environ={}).package_id
        package = api.packages[package_id]
        assert fetch_manifest(client, package_id).raw == package.manifest.canonical_bytes()
        api.wrong_manifest_digest = True
        with pytest.raises(IntegrityError):
            fetch_manifest(client, package_id)


@pytest.mark.parametrize(
    ("status", "code", "exc"),
    [
        (401, "unauthorized", AuthError),
        (403, "forbidden", AuthError),
        (404, "package_not_found", NotFound),
        (409, "idempotency_conflict", Conflict),
        (422, "metadata_invalid", InvalidInput),
        (500, "internal", ServerError),
    ],
)
def test_error_bodies_map_to_our_exceptions(status: int, code: str, exc: type[Exception]) -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        body = {"error": {"code": code, "message": "told", "details": {"x": 1}}}
        return httpx.Response(status, json=body)

    transport = httpx.MockTransport(handler)
    client = ApiClient("http://fake.test", "t", retries=2, backoff=0, transport=transport)
    with client, pytest.raises(exc) as caught:
        client.get_json("/packages/x")
    assert caught.value.code == code  # type: ignore[attr-defined]
    assert caught.value.details == {"x": 1}  # type: ignore[attr-defined]
    # Only the 5xx is retried (three attempts with retries=2).
    assert len(calls) == (3 if status >= 500 else 1)


def test_unreachable_api_names_the_url_and_the_fix() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    with ApiClient(url, "t", retries=1, backoff=0) as client, pytest.raises(ServerError) as caught:
        client.get_json("/packages")
    assert caught.value.code == "api_unreachable"
    assert caught.value.message.startswith(
        f"cannot reach artifact-store at {url}: start it with `make dev` or set "
        "ARTIFACTSTORE_API_URL"
    )
