"""Local backend uploads raise the same S3 ``ObjectCreated`` notification, sent to SQS."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

LOCAL_BUCKET = "artifactstore-local-files"


def s3_object_created_record(bucket: str, key: str, size: int) -> dict[str, object]:
    """One S3 event notification record, as S3 writes it."""
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "us-east-1",
        "eventTime": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "eventName": "ObjectCreated:Put",
        "s3": {
            "s3SchemaVersion": "1.0",
            "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
            "object": {"key": key, "size": size},
        },
    }


class SqsObjectCreatedNotifier:
    """Sends ``{"Records": [...]}`` for each local upload to the verifier's queue."""

    def __init__(self, queue_url: str, client: SQSClient | None = None) -> None:
        self.queue_url = queue_url
        self._client = client

    def __call__(self, key: str, size: int) -> None:
        """Notify that ``key`` (``size`` bytes) was written to the local backend."""
        if self._client is None:
            import boto3

            self._client = boto3.client("sqs")
        body = {"Records": [s3_object_created_record(LOCAL_BUCKET, key, size)]}
        self._client.send_message(QueueUrl=self.queue_url, MessageBody=json.dumps(body))
