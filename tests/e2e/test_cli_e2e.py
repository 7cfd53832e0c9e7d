"""The real ``artifactstore`` executable against the local stack (``make dev`` on free ports)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from tests.e2e.conftest import MULTIPART_THRESHOLD, SCHEMA, Stack, offline_digest

pytestmark = pytest.mark.e2e

INGEST_KEYS = {"package_id", "manifest_digest", "file_count", "reused_existing"}


def make_run(root: Path, big_files: int = 0, big_size: int = 0) -> Path:
    """A finalized run: nested, hidden, empty, executable, duplicate and non-ASCII files."""
    root.mkdir(parents=True)
    run = {
        "run_id": f"e2e-{uuid.uuid4()}",
        "target_profile_ref": "targets/x.json",
        "assessment_profile_ref": "assessments/y.json",
        "result_status": "passed",
        "numbers": {"n": 3, "ratio": 0.5},
    }
    (root / "run.json").write_text(json.dumps(run))
    (root / "logs").mkdir()
    (root / "logs" / "run.log").write_bytes(b"started\nfinished\n" * 100)
    (root / "logs" / "same.log").write_bytes(b"started\nfinished\n" * 100)
    (root / ".guide-board").mkdir()
    (root / ".guide-board" / "empty").write_bytes(b"")
    (root / "résumé.txt").write_text("café")
    tool = root / "tools" / "rerun.sh"
    tool.parent.mkdir()
    tool.write_bytes(b"#!/bin/sh\necho again\n")
    tool.chmod(0o755)
    for n in range(big_files):
        (root / f"big-{n}.bin").write_bytes(os.urandom(big_size))
    return root


def ingest(stack: Stack, run: Path, *extra: str) -> dict[str, object]:
    done = stack.cli("guide-board", "ingest", run, "--schema", SCHEMA, *extra)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)  # the whole of stdout is one JSON object
    assert set(result) == INGEST_KEYS
    return dict(result)


@pytest.mark.parametrize("retention", ["release-evidence", "ephemeral"], ids=["s3", "local"])
def test_round_trip_is_byte_identical_and_reingest_sends_nothing(
    stack: Stack, tmp_path: Path, retention: str
) -> None:
    run = make_run(tmp_path / "run")
    first = ingest(stack, run, "--retention-class", retention, "--progress")
    assert first["manifest_digest"] == offline_digest(stack, run)
    assert (first["file_count"], first["reused_existing"]) == (6, False)
    package_id = str(first["package_id"])
    puts = stack.upload_puts(package_id)
    assert puts == 1  # six small files, two with the same bytes: five blobs in one bundle

    again = ingest(stack, run, "--retention-class", retention)
    assert again == {**first, "reused_existing": True}
    assert stack.upload_puts(package_id) == puts

    dest = tmp_path / "dest"
    done = stack.cli("download", package_id, dest)
    assert done.returncode == 0, done.stderr
    assert subprocess.run(["diff", "-r", str(run), str(dest)]).returncode == 0
    assert os.access(dest / "tools" / "rerun.sh", os.X_OK)
    assert stack.cli("verify", dest, "--package", package_id).returncode == 0

    manifest = stack.cli("manifest", package_id, "--raw")
    assert manifest.returncode == 0
    cat = stack.cli("cat", package_id, "résumé.txt")
    assert (cat.returncode, cat.stdout) == (0, "café")


def test_verify_reports_tampering(stack: Stack, tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    package_id = str(ingest(stack, run)["package_id"])
    dest = tmp_path / "dest"
    assert stack.cli("download", package_id, dest).returncode == 0
    (dest / "logs" / "run.log").write_bytes(b"STARTED\nfinished\n" * 100)  # same size
    (dest / ".guide-board" / "empty").unlink()
    (dest / "planted").write_bytes(b"x")

    done = stack.cli("verify", dest, "--package", package_id, "--json")
    assert done.returncode == 1
    report = json.loads(done.stdout)
    assert [c["path"] for c in report["changed"]] == ["logs/run.log"]
    assert report["missing"] == [".guide-board/empty"]
    assert report["extra"] == ["planted"]
    assert "changed: logs/run.log" in done.stderr


def test_killed_mid_upload_resumes_to_the_same_package(stack: Stack, tmp_path: Path) -> None:
    run = make_run(tmp_path / "run", big_files=3, big_size=MULTIPART_THRESHOLD + 3 * 1024**2)
    expected = offline_digest(stack, run)
    run_id = json.loads((run / "run.json").read_text())["run_id"]
    offset = stack.log.stat().st_size
    child = stack.popen("guide-board", "ingest", run, "--schema", SCHEMA, "--concurrency", "1")
    # Kill it as soon as storage has seen its first upload bytes (the stack's log says so).
    while child.poll() is None and "uploads/" not in _log_after(stack, offset):
        time.sleep(0.05)
    killed = child.poll() is None
    child.send_signal(signal.SIGKILL)
    child.communicate()
    assert killed, "the ingest finished before it could be killed"

    resumed = ingest(stack, run)
    assert resumed["manifest_digest"] == expected
    listed = stack.cli("packages", "list", "--producer", "guide-board", "--json", "--limit", "500")
    items = json.loads(listed.stdout)["items"]
    ids = [i["package_id"] for i in items if i.get("idempotency_key") == run_id]
    assert ids == [resumed["package_id"]]


def _log_after(stack: Stack, offset: int) -> str:
    with stack.log.open("rb") as log:
        log.seek(offset)
        return log.read().decode(errors="replace")


def test_six_concurrent_ingests_make_one_package(stack: Stack, tmp_path: Path) -> None:
    run = make_run(tmp_path / "run", big_files=2, big_size=256 * 1024)
    children = [stack.popen("guide-board", "ingest", run, "--schema", SCHEMA) for _ in range(6)]
    outputs = [child.communicate(timeout=300) for child in children]
    assert [c.returncode for c in children] == [0] * 6, [err for _out, err in outputs]
    results = [json.loads(out) for out, _err in outputs]
    assert len({r["package_id"] for r in results}) == 1
    assert len({r["manifest_digest"] for r in results}) == 1


def test_run_changed_after_sealing_is_a_conflict_naming_the_package(
    stack: Stack, tmp_path: Path
) -> None:
    run = make_run(tmp_path / "run")
    package_id = str(ingest(stack, run)["package_id"])
    (run / "late.txt").write_bytes(b"written after sealing")
    done = stack.cli("guide-board", "ingest", run, "--schema", SCHEMA)
    assert done.returncode == 3
    assert done.stdout == ""
    assert package_id in done.stderr
    assert done.stderr.count("\n") == 1
