"""The canonical ``artifact_link`` progress event State Hub receives (the seed's shape)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

AUTHOR = "artifact-store"


def build_artifact_link(
    *,
    workstream_id: str,
    task_id: str,
    producer: str,
    api_url: str,
    run_dir: str | None,
    metadata: Mapping[str, Any],
    package_id: str,
    manifest_digest: str,
    file_count: int,
    retention_class: str,
) -> dict[str, Any]:
    """Build the event field for field: identifiers, digests and links, never bytes."""
    run_id = metadata.get("run_id")
    return {
        "event_type": "artifact_link",
        "author": AUTHOR,
        "workstream_id": workstream_id,
        "task_id": task_id,
        "summary": (
            f"{producer} run {run_id} artifacts stored in artifact-store package {package_id}"
        ),
        "detail": {
            "producer": producer,
            "artifact_store_api_url": api_url,
            "run_dir": run_dir,
            "run_id": run_id,
            "target_profile_ref": metadata.get("target_profile_ref"),
            "assessment_profile_ref": metadata.get("assessment_profile_ref"),
            "result_status": metadata.get("result_status"),
            "package_id": package_id,
            "manifest_digest": manifest_digest,
            "file_count": file_count,
            "retention_class": retention_class,
        },
    }
