"""tests/moto_speed.py: moto answers exactly as it does without the shortcuts.

Each answer below is serialized by moto's own code and again with the shortcuts installed, and
the two must be the same bytes: attribute values of every type (nested too), the snake_case
and aliased keys moto's backends hand the serializer, a structure given as an object, and
answers of each service the tests' moto server speaks JSON for. A moto upgrade that changes
what the shortcuts rely on fails here.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from moto import backends
from moto.core.serialize import XFormedAttributePicker, get_serializer_class
from moto.core.utils import get_service_model

from tests import moto_speed

ITEM: dict[str, Any] = {
    "pk": {"S": "PKG#1"},
    "size": {"N": "12"},
    "raw": {"B": "aGVsbG8="},
    "tags": {"SS": ["a", "b"]},
    "sizes": {"NS": ["1", "2"]},
    "raws": {"BS": ["aGk="]},
    "nested": {"M": {"list": {"L": [{"S": "x"}, {"NULL": True}, {"BOOL": False}]}}},
    "empty": {"L": []},
    "flag": {"BOOL": True},
}

ANSWERS: list[tuple[str, str, Any]] = [
    ("dynamodb", "GetItem", {"Item": ITEM, "ConsumedCapacity": {"TableName": "t"}}),
    (
        "dynamodb",
        "BatchGetItem",
        {
            "Responses": {"t": [ITEM, {"pk": {"S": "PKG#2"}}]},
            "UnprocessedKeys": {"t": {"Keys": [{"pk": {"S": "PKG#3"}}]}},
            "ConsumedCapacity": [{"CapacityUnits": 2, "TableName": "t"}],
        },
    ),
    ("dynamodb", "Query", {"Items": [ITEM], "Count": 1, "LastEvaluatedKey": {"pk": {"S": "x"}}}),
    (
        "dynamodb",
        "DescribeTable",
        {
            "Table": {
                "TableName": "t",
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                "CreationDateTime": datetime(2026, 1, 2, tzinfo=UTC),
                "item_count": 3,  # snake_case, as some of moto's backends hand them over
                "GlobalSecondaryIndexes": [
                    {"IndexName": "by-state", "Projection": {"ProjectionType": "ALL"}}
                ],
                "BillingModeSummary": {"BillingMode": "PAY_PER_REQUEST"},
            }
        },
    ),
    (
        "dynamodb",
        "TransactWriteItems",
        {"ItemCollectionMetrics": {"t": [{"ItemCollectionKey": {"pk": {"S": "a"}}}]}},
    ),
    (
        "sqs",
        "ReceiveMessage",
        {
            "Messages": [
                {
                    "MessageId": "m1",
                    "ReceiptHandle": "r1",
                    "MD5OfBody": "d41d8cd98f00b204e9800998ecf8427e",
                    "Body": "{}",
                    "Attributes": {"ApproximateReceiveCount": "2"},
                    "MessageAttributes": {
                        "kind": {"StringValue": "x", "DataType": "String"},
                        "blob": {"BinaryValue": b"\x00\x01", "DataType": "Binary"},
                    },
                }
            ]
        },
    ),
    ("sqs", "GetQueueAttributes", {"Attributes": {"QueueArn": "arn:aws:sqs:us-east-1:1:q"}}),
    (
        "kms",
        "DescribeKey",
        {
            "KeyMetadata": {
                "KeyId": "k",
                "Arn": "arn:aws:kms:us-east-1:1:key/k",
                "CreationDate": datetime(2026, 1, 2, tzinfo=UTC),
                "key_usage": "SIGN_VERIFY",
                "SigningAlgorithms": ["ECDSA_SHA_256"],
            }
        },
    ),
    ("kms", "Sign", {"KeyId": "k", "Signature": b"\x30\x44", "SigningAlgorithm": "ECDSA_SHA_256"}),
    ("events", "PutEvents", {"FailedEntryCount": 0, "Entries": [{"EventId": "e1"}, {}]}),
    (
        "events",
        "DescribeRule",
        SimpleNamespace(name="r", arn="arn:aws:events:us-east-1:1:rule/r", state="ENABLED"),
    ),
]


@pytest.fixture
def installed() -> Iterator[None]:
    """The shortcuts installed (as the moto_server fixture leaves them) for the test."""
    moto_speed.install()
    yield


def _serialized(service: str, operation: str, answer: Any) -> Any:
    model = get_service_model(service)
    serializer = get_serializer_class(service, model.protocol)(
        operation_model=model.operation_model(operation),
        value_picker=XFormedAttributePicker(),
    )
    return serializer.serialize(answer)


@pytest.mark.parametrize(
    ("service", "operation", "answer"), ANSWERS, ids=[f"{s}-{o}" for s, o, _ in ANSWERS]
)
def test_an_answer_is_the_same_bytes_with_the_shortcuts(
    installed: None, service: str, operation: str, answer: Any
) -> None:
    with moto_speed.moto_as_released():
        expected = _serialized(service, operation, answer)
    assert _serialized(service, operation, answer) == expected
    assert expected["body"] not in ("", "{}")  # the answer did say something


def test_the_module_list_is_moto_own(installed: None) -> None:
    with moto_speed.moto_as_released():
        expected = list(backends.list_of_moto_modules())
    assert list(backends.list_of_moto_modules()) == expected
    assert "dynamodb" in expected


def test_the_shortcuts_are_in_place(installed: None) -> None:
    from moto.core.serialize import BaseJSONSerializer

    for owner, name in [
        (backends, "list_of_moto_modules"),
        (XFormedAttributePicker, "get_possible_keys"),
        (BaseJSONSerializer, "_serialize_type_structure"),
    ]:
        assert getattr(owner, name) is not moto_speed._ORIGINALS[owner, name], name
