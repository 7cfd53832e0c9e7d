"""The linker's use case: tell State Hub about a sealed package, once."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from artifactstore.domain.linkevent import build_artifact_link
from artifactstore.domain.packages import PackageState
from artifactstore.errors import Conflict
from artifactstore.service.context import Services

logger = Logger(service="artifactstore", child=True)


def link_package(svc: Services, package_id: str) -> dict[str, Any]:
    """Post the ``artifact_link`` event; record the outcome on the package.

    A 4xx is recorded and not retried; 5xx and timeouts raise (the Lambda retries, then the
    dead-letter queue keeps the event).
    """
    record = svc.catalog.get_package(package_id)
    if record.state is not PackageState.SEALED or record.manifest_digest is None:
        raise Conflict(f"package {package_id} is not sealed", code="not_sealed")
    linked = (record.links or {}).get("state_hub") or {}
    workstream = linked.get("workstream_id") or svc.default_state_hub_ids[0]
    task = linked.get("task_id") or svc.default_state_hub_ids[1]
    now = svc.clock().isoformat()
    if not workstream or not task or svc.state_hub is None:
        link: dict[str, Any] = {
            "status": "not_linked",
            "at": now,
            "reason": "no State Hub URL, workstream or task configured",
        }
        svc.catalog.record_link(package_id, link)
        return link
    event = build_artifact_link(
        workstream_id=workstream,
        task_id=task,
        producer=record.producer,
        api_url=svc.public_api_url,
        run_dir=record.run_dir,
        metadata=record.metadata,
        package_id=record.package_id,
        manifest_digest=record.manifest_digest,
        file_count=record.file_count,
        retention_class=record.retention_class,
    )
    status, answer = svc.state_hub.post_progress(event)
    link = {
        "status": "linked" if status < 400 else "refused",
        "at": now,
        "http_status": status,
        "response": answer,
    }
    svc.catalog.record_link(package_id, link)
    logger.info("state hub link", extra={"package_id": package_id, "http_status": status})
    return link
