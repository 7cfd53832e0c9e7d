"""Verifier Lambda: SQS batches of S3 ObjectCreated notifications, partial batch failures.

A record that fails for a reason that passes by itself (S3's 409 ConditionalRequestConflict on
the write-once copy, a DynamoDB transaction conflict or throttling, a package whose file list
is still being written) comes back after 10, 20 and then 30 seconds (by its receive count;
``ARTIFACTSTORE_VERIFIER_RETRY_DELAYS``, a JSON list of one to three delays of 1 to 900 s,
replaces ``RETRY_DELAYS``) instead of the queue's 90-minute visibility timeout; after those,
and for every other failure, it waits the full timeout, so a message is dead-lettered only
after hours.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any
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

from artifactstore.adapters.local.notify import LOCAL_BUCKET
from artifactstore.adapters.tracing import Tracer
from artifactstore.service.factory import services
from artifactstore.service.upload_outcomes import NotReadyYet
from artifactstore.service.verification import verify_upload
from artifactstore.settings import DEFAULT_VERIFIER_RETRY_DELAYS, service_settings

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

logger = Logger(service="artifactstore")
tracer = Tracer(service="artifactstore")
metrics = Metrics(namespace="artifactstore", service="artifactstore")


def backend_of(bucket: str) -> str | None:
    """Which storage backend a notification's bucket is."""
    if bucket == LOCAL_BUCKET:
        return "local"
    return "s3" if bucket == service_settings().bucket else None


# Seconds a record that failed transiently stays invisible, by its ApproximateReceiveCount
# (1, 2, 3); later failures keep the queue's own visibility timeout (5,400 s). The default:
# the service setting ``verifier_retry_delays`` (ARTIFACTSTORE_VERIFIER_RETRY_DELAYS) applies.
RETRY_DELAYS = DEFAULT_VERIFIER_RETRY_DELAYS
TRANSIENT_CODES = frozenset(
    {
        "ConditionalRequestConflict",  # S3: a concurrent conditional write to the same key
        "SlowDown",
        "TransactionConflict",  # a cancellation reason of TransactWriteItems
        "TransactionConflictException",
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
    }
)


def is_transient(error: BaseException) -> bool:
    """Whether ``error`` (or one it was raised from) passes by itself: retry soon."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, NotReadyYet):
            return True
        codes: set[Any] = {getattr(current, "cause_response_code", None)}  # PynamoDB
        response = getattr(current, "response", None)  # botocore's ClientError
        if isinstance(response, dict):
            codes.add(response.get("Error", {}).get("Code"))
        details = getattr(current, "details", None)  # our errors name S3's code
        if isinstance(details, dict):
            codes.add(details.get("s3_error_code"))
        for reason in getattr(current, "cancellation_reasons", None) or []:
            codes.add(getattr(reason, "code", None))
        if codes & TRANSIENT_CODES:
            return True
        current = current.__cause__ or current.__context__
    return False


def retry_delay(record: SQSRecord) -> int | None:
    """How soon a transiently failed record should come back (None: the queue's timeout)."""
    try:
        count = int(record.attributes.approximate_receive_count)
    except (KeyError, TypeError, ValueError):
        return None
    delays = service_settings().verifier_retry_delays
    return delays[count - 1] if 1 <= count <= len(delays) else None


def queue_url(queue_arn: str) -> str:
    """``arn:aws:sqs:<region>:<account>:<name>`` as its queue URL."""
    _, partition, _, region, account, name = queue_arn.split(":", 5)
    domain = "amazonaws.com.cn" if partition == "aws-cn" else "amazonaws.com"
    return f"https://sqs.{region}.{domain}/{account}/{name}"


@lru_cache(maxsize=1)
def sqs_client() -> SQSClient:
    """The SQS client (built on first use; boto3 honours ``AWS_ENDPOINT_URL_SQS``)."""
    import boto3

    return boto3.session.Session().client("sqs")


def retry_soon(record: SQSRecord, delay: int) -> None:
    """Make the record's message visible again after ``delay`` seconds (best effort)."""
    try:
        sqs_client().change_message_visibility(
            QueueUrl=queue_url(record.event_source_arn),
            ReceiptHandle=record.receipt_handle,
            VisibilityTimeout=delay,
        )
    except Exception:  # the message then waits the queue's timeout, as before
        logger.exception("could not shorten the message's visibility")


def handle_record(record: SQSRecord) -> None:
    """Verify the record; a transient failure is retried within seconds (``retry_delay``)."""
    try:
        verify_record(record)
    except Exception as exc:
        delay = retry_delay(record) if is_transient(exc) else None
        if delay is not None:
            logger.warning(
                "transient failure; retrying soon",
                extra={"retry_in_seconds": delay, "error": repr(exc)},
            )
            retry_soon(record, delay)
        raise


def verify_record(record: SQSRecord) -> None:
    """Verify every object a notification names; a test event or foreign key is acknowledged."""
    event = record.decoded_nested_s3_event
    if "Records" not in event.raw_event:  # s3:TestEvent, sent when the notification is set up
        logger.info("notification without records ignored", extra={"event": event.get("Event")})
        return
    for s3_record in event.records:
        bucket = s3_record.s3.bucket.name
        key = unquote_plus(s3_record.s3.get_object.key)
        # A versioned bucket names the version created; verify exactly that one.
        version = s3_record.s3.get_object.version_id or None
        backend = backend_of(bucket)
        if backend is None or not s3_record.event_name.startswith("ObjectCreated"):
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
