"""The events Lambda hands our functions, built once for the event pump and the tests.

- :func:`sqs_record`: one record of the batch an SQS event source mapping invokes a function
  with, made from a message as ``ReceiveMessage`` returns it (for the upload queue its body is
  S3's event notification); :func:`sqs_event` wraps records into the batch.
- :func:`rule_delivery`: the EventBridge envelope a rule's target receives, read from the SQS
  queue that stands in for the target locally; :func:`scheduled_event`: the envelope a schedule
  sends.

Shapes: https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html and
https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-events-structure.html.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from localdev.template import ACCOUNT_ID


def sqs_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    """One record of an SQS event, as Lambda builds it from a received message.

    ``message`` is a ``ReceiveMessage`` answer's message; its ``Attributes`` (receive with
    ``AttributeNames=["All"]``) become the record's ``attributes``. The region is the queue's.
    """
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": dict(message.get("Attributes") or {}),
        "messageAttributes": {
            name: _message_attribute(value)
            for name, value in (message.get("MessageAttributes") or {}).items()
        },
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": queue_arn.split(":")[3],
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def sqs_event(messages: Iterable[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    """The event one batch of received messages invokes a function with."""
    return {"Records": [sqs_record(m, queue_arn) for m in messages]}


def _message_attribute(value: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": value["DataType"],
    }
    if "StringValue" in value:
        out["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        out["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode("ascii")
    return out


def rule_delivery(body: str) -> Any:
    """The envelope a rule's target receives, from the body of the message moto queued for it.

    moto's default target input drops the envelope's ``account``; EventBridge sends it.
    """
    envelope = json.loads(body)
    if isinstance(envelope, dict) and "detail-type" in envelope:
        envelope.setdefault("account", ACCOUNT_ID)
    return envelope


def scheduled_event(rule_arn: str, region: str) -> dict[str, Any]:
    """The envelope EventBridge sends for a scheduled rule."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT_ID,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [rule_arn],
        "detail": {},
    }
