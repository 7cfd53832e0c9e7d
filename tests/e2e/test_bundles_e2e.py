"""Small files travel in bundles through the real stack: few PUTs, the same sealed package."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path

import pytest
from tests.e2e.conftest import SCHEMA, Stack, offline_digest

pytestmark = pytest.mark.e2e

SMALL_FILES = 300
BIG_SIZE = 2 * 1024**2  # over the default ARTIFACTSTORE_BUNDLE_BELOW, under multipart


def make_run(root: Path) -> Path:
    """A finalized run: 300 small files (two with the same bytes, one empty) and one big file."""
    root.mkdir(parents=True)
    run = {
        "run_id": f"bundles-{uuid.uuid4()}",
        "target_profile_ref": "targets/x.json",
        "assessment_profile_ref": "assessments/y.json",
        "result_status": "passed",
    }
    (root / "run.json").write_text(json.dumps(run))
    cases = root / "cases"
    cases.mkdir()
    for n in range(SMALL_FILES - 3):
        (cases / f"case-{n:03d}.log").write_bytes(f"case {n}\n".encode() * (n % 50 + 1))
    (cases / "same-1.txt").write_bytes(b"same\n")
    (cases / "same-2.txt").write_bytes(b"same\n")
    (root / "big.bin").write_bytes(os.urandom(BIG_SIZE))
    return root


@pytest.mark.parametrize(
    ("retention", "per_request"),
    [("release-evidence", None), ("ephemeral", None), ("release-evidence", "100")],
    ids=["s3", "local", "s3-file-list-in-parts"],
)
def test_small_files_go_in_bundles_and_the_package_round_trips(
    stack: Stack, tmp_path: Path, retention: str, per_request: str | None
) -> None:
    run = make_run(tmp_path / "run")
    files = sum(1 for p in run.rglob("*") if p.is_file())
    ingest = ("guide-board", "ingest", run, "--schema", SCHEMA, "--retention-class", retention)
    # In parts, the completing part's answer holds the first page: it must ask for bundles too.
    env = {"ARTIFACTSTORE_FILES_PER_REQUEST": per_request} if per_request else {}
    done = stack.cli(*ingest, env=env)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["manifest_digest"] == offline_digest(stack, run)
    assert (result["file_count"], result["reused_existing"]) == (files, False)
    package_id = str(result["package_id"])
    # 299 distinct small blobs fit one bundle (one PUT); the big file is one more PUT.
    puts = stack.upload_puts(package_id)
    assert puts == 2, f"{puts} upload PUTs for {files} files"

    again = stack.cli(*ingest, env=env)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == {**result, "reused_existing": True}
    assert stack.upload_puts(package_id) == puts

    # Every bundled blob was split out at its own digest: the download is byte-identical.
    dest = tmp_path / "dest"
    fetched = stack.cli("download", package_id, dest)
    assert fetched.returncode == 0, fetched.stderr
    assert subprocess.run(["diff", "-r", str(run), str(dest)]).returncode == 0

    # Packed files come with few ranged GETs of their pack and no request per file; a glob
    # reads only the ranges it needs; a resumed download fetches only what is missing.
    log_before = stack.log.read_text(encoding="utf-8", errors="replace").splitlines()
    part = tmp_path / "part"
    picked = stack.cli("download", package_id, part, "--include", "cases/case-00*.log")
    assert picked.returncode == 0, picked.stderr
    assert sorted(p.name for p in (part / "cases").iterdir()) == [
        f"case-{n:03d}.log" for n in range(10)
    ]
    new_lines = stack.log.read_text(encoding="utf-8", errors="replace").splitlines()
    new_lines = new_lines[len(log_before) :]
    pack_gets = [line for line in new_lines if "GET" in line and "packs/blake3/" in line]
    assert 1 <= len(pack_gets) <= 2, pack_gets
    assert not [line for line in new_lines if f"/packages/{package_id}/files/" in line]

    # Resumed: the files already right are kept, only the missing ones are read again.
    for name in ("case-003.log", "case-007.log"):
        (part / "cases" / name).unlink()
    (part / "cases" / "case-005.log").write_bytes(b"tampered")
    resumed = stack.cli("download", package_id, part, "--include", "cases/case-00*.log")
    assert resumed.returncode == 0, resumed.stderr
    assert "(3 downloaded, 7 already present)" in resumed.stderr
    for name in ("case-003.log", "case-005.log", "case-007.log"):
        assert (part / "cases" / name).read_bytes() == (run / "cases" / name).read_bytes()
