"""The guide's storage swap: release evidence lands in S3 (moto), the rest on local files."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from tests.e2e.stack import (
    API,
    SWAP_ROUTES,
    Guide,
    get_json,
    guide_run,
    make_dev,
)

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("stack")]


@pytest.fixture
def swapped(tmp_path: Path) -> Iterator[Guide]:
    """The stack started with the guide's storage-swap routes."""
    with make_dev(tmp_path / "swapped", ARTIFACTSTORE_STORAGE_BACKEND_ROUTES=SWAP_ROUTES) as g:
        yield g


def test_storage_swap_sends_release_evidence_to_s3_and_the_rest_to_local_files(
    swapped: Guide, tmp_path: Path
) -> None:
    guide = swapped
    kept = guide_run(tmp_path, name="kept", run_id="swap-release-evidence")
    brief = guide_run(tmp_path, name="brief", run_id="swap-ephemeral")
    (brief / "logs" / "only-here.log").write_bytes(b"ephemeral-only bytes\n")
    (kept / "evidence" / "only-here.bin").write_bytes(b"release-evidence-only bytes\n")
    ingest = "artifactstore guide-board ingest {} --schema schemas/guide-board.run.v1.json {}"
    script = "export ARTIFACTSTORE_API_TOKEN=dev-token\n"
    s3_result = json.loads(guide.ok(script + ingest.format(kept, "")))
    local_result = json.loads(
        guide.ok(script + ingest.format(brief, "--retention-class ephemeral"))
    )

    stack = json.loads((guide.state_dir / "stack.json").read_text())
    s3 = boto3.client(
        "s3", endpoint_url=f"http://127.0.0.1:{guide.env['ARTIFACTSTORE_LOCAL_AWS_PORT']}",
        region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing",
    )  # fmt: skip
    local_root = guide.state_dir / "storage"

    # Small files are stored in packs (``docs/architecture.md``), bigger ones as blobs: look
    # for the bytes in every object either backend holds under those two prefixes.
    def in_s3(data: bytes) -> bool:
        for prefix in ("blobs/", "packs/"):
            listed = s3.list_objects_v2(Bucket=stack["bucket"], Prefix=prefix)
            for item in listed.get("Contents", []):
                body = s3.get_object(Bucket=stack["bucket"], Key=item["Key"])["Body"].read()
                if data in body:
                    return True
        return False

    def in_local(data: bytes) -> bool:
        found = [*(local_root / "blobs").rglob("*"), *(local_root / "packs").rglob("*")]
        return any(data in p.read_bytes() for p in found if p.is_file())

    only_s3, only_local = b"release-evidence-only bytes\n", b"ephemeral-only bytes\n"
    assert in_s3(only_s3) and not in_local(only_s3)
    assert in_local(only_local) and not in_s3(only_local)
    packages = {
        r["package_id"]: get_json(f"{API}/packages/{r['package_id']}?files_limit=1")
        for r in (s3_result, local_result)
    }
    assert packages[s3_result["package_id"]]["backend"] == "s3"
    assert packages[local_result["package_id"]]["backend"] == "local"
    assert packages[local_result["package_id"]]["retention_class"] == "ephemeral"
