"""The CLI sends a file list too big for one request in parts, and the package seals."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.conftest import SCHEMA, Stack, finalized_run, offline_digest


def test_a_list_over_the_per_request_limit_goes_in_parts(stack: Stack, tmp_path: Path) -> None:
    run = tmp_path / "run"
    run_id = finalized_run(run, "parts")
    (run / "cases").mkdir()
    for i in range(24):
        (run / "cases" / f"case-{i:02}.json").write_text(f'{{"case": {i}, "run": "{run_id}"}}')

    # 25 files at 10 per request: a first part, a middle one, and a completing one.
    limit = {"ARTIFACTSTORE_FILES_PER_REQUEST": "10"}
    done = stack.cli("guide-board", "ingest", run, "--schema", SCHEMA, env=limit)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["file_count"] == 25
    assert result["manifest_digest"] == offline_digest(stack, run)
    assert result["reused_existing"] is False

    again = stack.cli("guide-board", "ingest", run, "--schema", SCHEMA, env=limit)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["package_id"] == result["package_id"]
    assert json.loads(again.stdout)["reused_existing"] is True
