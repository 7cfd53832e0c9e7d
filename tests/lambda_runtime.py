"""Invoke our Lambda handlers the way Lambda does: real-shaped events, a context object."""

from __future__ import annotations

import importlib.util
import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3

ROOT = Path(__file__).resolve().parents[1]
EVENTS = Path(__file__).resolve().parent / "events"


@dataclass
class FakeContext:
    """The attributes Powertools and Mangum read from a Lambda context."""

    function_name: str = "artifactstore-test"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:artifactstore-test"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = "/aws/lambda/artifactstore-test"
    log_stream_name: str = "test"

    def get_remaining_time_in_millis(self) -> int:
        """Plenty of time."""
        return 300_000


def load_handler(name: str) -> ModuleType:
    """Import ``functions/<name>/app.py`` by path, as Lambda does with its own root."""
    path = ROOT / "functions" / name / "app.py"
    spec = importlib.util.spec_from_file_location(f"function_{name}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_event(name: str) -> dict[str, Any]:
    """A canonical event payload from ``tests/events/``."""
    loaded: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return loaded


def receive_all(queue_url: str, wait: float = 0) -> list[dict[str, Any]]:
    """Every message currently on a queue (received, not yet deleted), with its attributes.

    No long poll by default: everything the tests enqueue is on the queue before the request
    that caused it returns (moto sends S3 notifications and EventBridge targets within the
    request, and the local backend's notify is a ``SendMessage`` in the upload route), and moto's
    short poll walks the whole queue, so an empty answer means an empty queue. A long poll only
    made every call end with ``wait`` seconds of waiting for nothing.
    """
    sqs = boto3.client("sqs")
    messages: list[dict[str, Any]] = []
    while True:
        answer = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=int(wait),
            VisibilityTimeout=60,
            AttributeNames=["All"],  # what Lambda's event source mapping hands the function
        )
        batch = answer.get("Messages", [])
        if not batch:
            # A message seen twice (its visibility ran out on a slow machine) keeps only its
            # newest receipt handle: the older one no longer deletes it.
            return list({m["MessageId"]: m for m in messages}.values())
        messages.extend(batch)  # type: ignore[arg-type]


def delete_messages(queue_url: str, messages: list[dict[str, Any]]) -> None:
    """Acknowledge messages."""
    sqs = boto3.client("sqs")
    for m in messages:
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])


def queue_arn(queue_url: str) -> str:
    """The ARN of a queue."""
    attrs = boto3.client("sqs").get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["QueueArn"]
    )
    return attrs["Attributes"]["QueueArn"]
