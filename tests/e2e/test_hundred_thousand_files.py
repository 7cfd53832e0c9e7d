"""The largest package the API takes, 100,000 files, through the real CLI and the local stack."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.conftest import SCHEMA, Stack, finalized_run, offline_digest

FILES = 100_000  # the most one package may hold (``run.json`` included)
DISTINCT = 50


def test_a_hundred_thousand_file_run_seals_with_the_offline_digest(
    stack: Stack, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    run_id = finalized_run(run, "big")
    (run / "cases").mkdir()
    bodies = [f"{run_id} outcome {k}\n".encode() for k in range(DISTINCT)]
    for i in range(FILES - 1):
        folder = run / "cases" / f"{i // 1000:03}"
        if i % 1000 == 0:
            folder.mkdir()
        (folder / f"case-{i:05}.txt").write_bytes(bodies[i % DISTINCT])

    # Over 20,000 files per request: the list goes up in five parts; the 51 small blobs in one
    # bundle.
    done = stack.cli("guide-board", "ingest", run, "--schema", SCHEMA, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result["file_count"] == FILES
    assert result["manifest_digest"] == offline_digest(stack, run)
    assert stack.upload_puts(result["package_id"]) == 1

    manifest = stack.cli("manifest", result["package_id"])
    assert manifest.returncode == 0, manifest.stderr
    assert len(json.loads(manifest.stdout)["files"]) == FILES

    again = stack.cli("guide-board", "ingest", run, "--schema", SCHEMA, timeout=900)
    assert again.returncode == 0, again.stderr[-3000:]
    assert json.loads(again.stdout) == {**result, "reused_existing": True}

    # Back through download plans: 100 pages, the 51 blobs read by range from their one pack.
    dest = tmp_path / "dest"
    fetched = stack.cli("download", result["package_id"], dest, timeout=900)
    assert fetched.returncode == 0, fetched.stderr[-3000:]
    assert f"{FILES} files in {dest} ({FILES} downloaded, 0 already present)" in fetched.stderr
    assert (dest / "cases" / "099" / "case-99998.txt").read_bytes() == bodies[99998 % DISTINCT]
    assert sum(1 for p in dest.rglob("*") if p.is_file()) == FILES
