"""Maintenance Lambda (scheduled): expire drafts and packages, sweep blobs nothing relies on,
re-publish unconfirmed seal events; in bounded steps that the next round resumes."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from artifactstore.service.factory import services
from artifactstore.service.lifecycle import Budget, run_maintenance

logger = Logger(service="artifactstore")
metrics = Metrics(namespace="artifactstore", service="artifactstore")
# Stop starting work this long before the function's timeout: one item (a blob's delete, a
# package's expiry) takes well under it.
SAFETY_SECONDS = 30.0
COUNTS = {
    "drafts_expired": "DraftsExpired",
    "packages_expired": "PackagesExpired",
    "blobs_deleted": "BlobsDeleted",
    "blobs_kept_locked": "BlobsKeptLocked",
    "seal_events_published": "SealEventsPublished",
}


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int | bool]:
    """One maintenance round, within the time the function has left."""
    budget = Budget(context.get_remaining_time_in_millis() / 1000 - SAFETY_SECONDS)
    result = run_maintenance(services(), budget).as_dict()
    for field, name in COUNTS.items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=int(result[field]))
    metrics.add_metric(
        name="BytesReclaimed", unit=MetricUnit.Bytes, value=int(result["bytes_reclaimed"])
    )
    logger.info("maintenance", extra=result)
    return result
