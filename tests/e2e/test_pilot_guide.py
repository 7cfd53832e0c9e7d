"""The pilot guide's "Real Producer Smoke", steps 2-5, exactly as written, against ``make dev``."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import blake3
import pytest
import rfc8785
from tests.e2e.stack import (
    API,
    HUB,
    ROOT,
    RUN_JSON,
    TASK,
    WORKSTREAM,
    Guide,
    expected_manifest,
    get_json,
    guide_run,
    make_dev,
)

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("stack")]


@pytest.fixture(scope="module")
def guide(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Guide]:
    """The stack as the guide starts it, shared by this module's tests of the default setup."""
    with make_dev(tmp_path_factory.mktemp("guide")) as g:
        yield g


def test_real_producer_smoke_steps_2_to_5(guide: Guide, tmp_path: Path) -> None:
    run = guide_run(tmp_path)
    ingest_json = tmp_path / "artifactstore-guide-board-ingest.json"

    # 3. Register the schema and ingest the run (registering twice succeeds twice)
    step3 = guide.ok(
        f"""export ARTIFACTSTORE_API_TOKEN=dev-token
python3 scripts/register-guide-board-schema.py
python3 scripts/register-guide-board-schema.py
artifactstore guide-board ingest \\
  {run} \\
  --schema schemas/guide-board.run.v1.json \\
  > {ingest_json}
cat {ingest_json}
"""
    )
    assert "schema guide-board.run.v1 registered" in step3
    assert "already registered" in step3
    result = json.loads(ingest_json.read_text())  # the whole file is one JSON object
    file_count = sum(1 for p in run.rglob("*") if p.is_file())
    assert set(result) == {"package_id", "manifest_digest", "file_count", "reused_existing"}
    assert (result["file_count"], result["reused_existing"]) == (file_count, False)

    # 4. Verify the manifest, and its digest independently of the service
    printed = guide.ok(
        f"""export ARTIFACTSTORE_API_TOKEN=dev-token
PACKAGE_ID=$(python3 -c 'import json; print(json.load(open("{ingest_json}"))["package_id"])')
artifactstore manifest "$PACKAGE_ID"
"""
    )
    expected = expected_manifest(run, RUN_JSON)
    assert rfc8785.dumps(json.loads(printed)) == expected
    assert result["manifest_digest"] == "blake3:" + blake3.blake3(expected).hexdigest()

    # 5. Record State Hub linkage, with the guide's exact values
    step5 = guide.ok(
        f"""export ARTIFACTSTORE_API_TOKEN=dev-token
export STATE_HUB_URL=http://127.0.0.1:8000
export STATE_HUB_WORKSTREAM_ID={WORKSTREAM}
export STATE_HUB_TASK_ID={TASK}
export GUIDE_BOARD_RUN_DIR={run}
export ARTIFACTSTORE_INGEST_RESULT_PATH={ingest_json}
python3 scripts/link-guide-board-package.py
"""
    )
    script_id = json.loads(step5)["state_hub_response"]["id"]
    package_id = result["package_id"]
    expected_event = {
        "event_type": "artifact_link",
        "author": "artifact-store",
        "workstream_id": WORKSTREAM,
        "task_id": TASK,
        "summary": (
            f"guide-board run {RUN_JSON['run_id']} artifacts stored in artifact-store "
            f"package {package_id}"
        ),
        "detail": {
            "producer": "guide-board",
            "artifact_store_api_url": "http://127.0.0.1:8000",
            "run_dir": str(run),
            "run_id": RUN_JSON["run_id"],
            "target_profile_ref": RUN_JSON["target_profile_ref"],
            "assessment_profile_ref": RUN_JSON["assessment_profile_ref"],
            "result_status": RUN_JSON["result_status"],
            "package_id": package_id,
            "manifest_digest": result["manifest_digest"],
            "file_count": file_count,
            "retention_class": "release-evidence",
        },
    }
    received = {e["id"]: e for e in get_json(f"{API}/progress/")["items"]}
    recorded = dict(received[script_id])
    assert recorded.pop("id") == script_id
    recorded.pop("received_at")
    assert recorded == expected_event

    # The EventBridge path (sealed -> linker) reaches the 8001 stand-in, which shares the log.
    deadline = time.monotonic() + 60
    while True:
        from_linker = [
            e
            for e in get_json(f"{HUB}/progress/")["items"]
            if e["id"] != script_id and e["detail"]["package_id"] == package_id
        ]
        if from_linker or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert len(from_linker) == 1
    assert from_linker[0]["detail"]["manifest_digest"] == result["manifest_digest"]
    # one log behind both addresses: each lists the other's event
    assert from_linker[0]["id"] in {e["id"] for e in get_json(f"{API}/progress/")["items"]}
    assert script_id in {e["id"] for e in get_json(f"{HUB}/progress/")["items"]}


def test_link_script_shows_a_state_hub_refusal_with_its_status(
    guide: Guide, tmp_path: Path
) -> None:
    run = guide_run(tmp_path, run_id="refused-link-run")
    ingest_json = tmp_path / "ingest.json"
    guide.ok(
        f"export ARTIFACTSTORE_API_TOKEN=dev-token\n"
        f"artifactstore guide-board ingest {run} --schema schemas/guide-board.run.v1.json"
        f" > {ingest_json}"
    )
    before = len(get_json(f"{API}/progress/")["items"])
    done = guide.sh(
        f"""export ARTIFACTSTORE_API_TOKEN=dev-token STATE_HUB_URL=http://127.0.0.1:8000/no-hub
export STATE_HUB_WORKSTREAM_ID={WORKSTREAM} STATE_HUB_TASK_ID={TASK}
export GUIDE_BOARD_RUN_DIR={run} ARTIFACTSTORE_INGEST_RESULT_PATH={ingest_json}
python3 scripts/link-guide-board-package.py
"""
    )
    assert done.returncode == 4
    assert "HTTP 404" in done.stderr
    assert done.stdout == ""
    # another run's directory with this package: refused before anything is posted
    other = guide_run(tmp_path, name="other", run_id="another-run")
    mismatch = guide.sh(
        f"""export ARTIFACTSTORE_API_TOKEN=dev-token STATE_HUB_URL=http://127.0.0.1:8000
export STATE_HUB_WORKSTREAM_ID={WORKSTREAM} STATE_HUB_TASK_ID={TASK}
export GUIDE_BOARD_RUN_DIR={other} ARTIFACTSTORE_INGEST_RESULT_PATH={ingest_json}
python3 scripts/link-guide-board-package.py
"""
    )
    assert mismatch.returncode == 3
    assert "another-run" in mismatch.stderr
    wrong_token = guide.sh(
        "ARTIFACTSTORE_API_TOKEN=not-the-token python3 scripts/register-guide-board-schema.py"
    )
    assert wrong_token.returncode == 2
    assert "refused the token" in wrong_token.stderr
    changed = tmp_path / "changed-schema.json"
    body = json.loads((ROOT / "schemas" / "guide-board.run.v1.json").read_text())
    changed.write_text(json.dumps({**body, "title": "another body under the same slug"}))
    conflict = guide.sh(
        f"ARTIFACTSTORE_API_TOKEN=dev-token python3 scripts/register-guide-board-schema.py"
        f" --schema {changed}"
    )
    assert conflict.returncode == 3
    assert "HTTP 409 schema_conflict" in conflict.stderr
    script_events = [
        e for e in get_json(f"{API}/progress/")["items"] if e["detail"].get("run_dir") == str(other)
    ]
    assert script_events == []
    assert len(get_json(f"{API}/progress/")["items"]) >= before  # the linker may add its own
