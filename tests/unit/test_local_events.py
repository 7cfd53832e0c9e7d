"""``localdev.events`` builds what AWS documents: fed the message behind one of AWS's sample
events (``tests/events/``), it gives that sample back."""

from __future__ import annotations

import json
from typing import Any

import pytest
from localdev.events import rule_delivery, scheduled_event, sqs_event, sqs_record

from tests.lambda_runtime import load_event


def received(record: dict[str, Any]) -> dict[str, Any]:
    """The ``ReceiveMessage`` message a Lambda SQS record was made from."""
    return {
        "MessageId": record["messageId"],
        "ReceiptHandle": record["receiptHandle"],
        "MD5OfBody": record["md5OfBody"],
        "Body": record["body"],
        "Attributes": record["attributes"],
    }


@pytest.mark.parametrize("name", ["sqs_s3_object_created.json", "sqs_s3_test_event.json"])
def test_the_sqs_record_is_lambdas(name: str) -> None:
    documented = load_event(name)
    (record,) = documented["Records"]
    assert sqs_event([received(record)], record["eventSourceARN"]) == documented


def test_message_attributes_are_carried_as_lambda_names_them() -> None:
    message = {
        **received(load_event("sqs_s3_test_event.json")["Records"][0]),
        "MD5OfMessageAttributes": "b25f48e8",
        "MessageAttributes": {
            "kind": {"DataType": "String", "StringValue": "upload"},
            "raw": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
        },
    }
    record = sqs_record(message, "arn:aws:sqs:eu-west-1:123456789012:q")
    assert record["awsRegion"] == "eu-west-1"
    assert record["md5OfMessageAttributes"] == "b25f48e8"
    assert record["messageAttributes"] == {
        "kind": {
            "stringValue": "upload",
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "String",
        },
        "raw": {
            "binaryValue": "AAE=",
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "Binary",
        },
    }


def test_a_rule_delivery_gets_back_the_account_moto_drops() -> None:
    documented = load_event("eventbridge_package_sealed.json")
    queued = {k: v for k, v in documented.items() if k != "account"}
    assert rule_delivery(json.dumps(queued)) == documented
    assert rule_delivery(json.dumps(documented)) == documented
    assert rule_delivery('"not an envelope"') == "not an envelope"


def test_a_scheduled_event_has_the_envelopes_fields() -> None:
    event = scheduled_event("arn:aws:events:us-east-1:123456789012:rule/r", "us-east-1")
    assert set(event) == set(load_event("eventbridge_package_sealed.json"))
    assert (event["detail-type"], event["source"], event["detail"]) == (
        "Scheduled Event",
        "aws.events",
        {},
    )
    assert event["resources"] == ["arn:aws:events:us-east-1:123456789012:rule/r"]
