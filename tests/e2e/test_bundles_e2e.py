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
