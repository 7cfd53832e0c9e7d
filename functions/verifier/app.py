"""Verifier Lambda: SQS batches of S3 ObjectCreated notifications, partial batch failures."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from artifactstore.adapters.local_notify import LOCAL_BUCKET
from artifactstore.adapters.tracing import Tracer
from artifactstore.service.factory import services
from artifactstore.service.verification import verify_upload
from artifactstore.settings import service_settings

logger = Logger(service="artifactstore")
tracer = Tracer(service="artifactstore")
metrics = Metrics(namespace="artifactstore", service="artifactstore")


def backend_of(bucket: str) -> str | None:
    """Which storage backend a notification's bucket is."""
    if bucket == LOCAL_BUCKET:
        return "local"
    return "s3" if bucket == service_settings().bucket else None


def handle_record(record: SQSRecord) -> None:
    """Verify every object a notification names; a test event or foreign key is acknowledged."""
    body = json.loads(record.body)
    for s3_record in body.get("Records", []):
        bucket = s3_record["s3"]["bucket"]["name"]
        key = unquote_plus(s3_record["s3"]["object"]["key"])
        # A versioned bucket names the version created; verify exactly that one.
        version = s3_record["s3"]["object"].get("versionId") or None
        backend = backend_of(bucket)
        if backend is None or not s3_record.get("eventName", "").startswith("ObjectCreated"):
            logger.info("notification ignored", extra={"bucket": bucket, "key": key})
            continue
        result = verify_upload(services(), backend, key, version)
        metrics.add_metric(name=f"Upload{result.outcome.title()}", unit=MetricUnit.Count, value=1)
        logger.info(
            "verified",
            extra={
                "key": key,
                "version": version,
                "outcome": result.outcome,
                "sealed": result.sealed,
            },
        )


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    """One SQS batch; failed records are reported, the rest acknowledged."""
    # A processor per invocation: it keeps per-batch state, and the local pump (unlike
    # Lambda) runs several invocations of this module at once.
    processor = BatchProcessor(event_type=EventType.SQS)
    return process_partial_response(
        event=event, record_handler=handle_record, processor=processor, context=context
    )
